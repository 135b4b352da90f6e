"""Rows to domain values, in one place."""

from __future__ import annotations

from warden.domain import Incident, IncidentStatus, Severity
from warden.store.tables import IncidentRow


def incident_from_row(row: IncidentRow) -> Incident:
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
