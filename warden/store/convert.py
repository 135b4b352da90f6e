"""Rows to domain values, in one place."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden.domain import Incident, IncidentAlert, IncidentStatus, Severity
from warden.store.tables import AlertRow, IncidentRow


def incident_from_row(row: IncidentRow) -> Incident:
    """The incident's own fields (its first alert's); ``alerts`` is left empty."""
    return Incident(
        id=row.id,
        key=row.key,
        source=row.source,
        service=row.service,
        title=row.title,
        description=row.description,
        severity=Severity(row.severity) if row.severity else None,
        labels=dict(row.labels or {}),
        status=IncidentStatus(row.status),
        alert_count=row.alert_count,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved_at=row.resolved_at,
    )


def incident_with_alerts(session: Session, row: IncidentRow) -> Incident:
    """The incident with every alert it holds now (firing or resolved), in arrival order,
    for the policy, which judges the incident as a whole. Repeats that say the same thing
    are read once."""
    session.flush()  # alerts folded earlier in this transaction count too
    texts: dict[tuple[str, str, tuple[tuple[str, str], ...]], IncidentAlert] = {}
    for title, description, labels in session.execute(
        select(AlertRow.title, AlertRow.description, AlertRow.labels)
        .where(AlertRow.incident_id == row.id)
        .order_by(AlertRow.id)
    ):
        labels = dict(labels or {})
        texts.setdefault(
            (title, description or "", tuple(sorted(labels.items()))),
            IncidentAlert(title=title, description=description or "", labels=labels),
        )
    return replace(incident_from_row(row), alerts=tuple(texts.values()))
