"""The history the policy weighs (policy.md, checks 5b, 9, 10 and 10b), by service key."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warden.domain import ExecutionStatus, History, Incident, service_key
from warden.store.tables import ExecutionRow, FreezeRow, IncidentRow


def history_for(
    session: Session, *, service: str, now: datetime, incident: Incident | None = None,
    action_name: str | None = None,
) -> History:
    """Automated executions (dry runs included, approved ones not) and the freeze, as the
    policy counts them, for every spelling of ``service`` (its service key); with
    ``incident`` and ``action_name``, the precedents of that action for it (check 10b).

    Recorded deploys are not fed here yet: ``deployed_versions`` is empty, so a grounded
    param is never grounded.
    """
    key = service_key(service)
    hour_ago = now - timedelta(hours=1)
    automated = select(func.count()).select_from(ExecutionRow).where(
        ExecutionRow.automated.is_(True), ExecutionRow.started_at >= hour_ago
    )
    last = session.execute(
        select(func.max(ExecutionRow.started_at)).where(
            ExecutionRow.automated.is_(True), ExecutionRow.service_key == key
        )
    ).scalar_one_or_none()
    return History(
        automated_executions_last_hour=session.execute(automated).scalar_one(),
        service_executions_last_hour=session.execute(
            automated.where(ExecutionRow.service_key == key)
        ).scalar_one(),
        last_automated_minutes_ago=None if last is None else (now - last).total_seconds() / 60,
        frozen=session.get(FreezeRow, key) is not None,
        deployed_versions=(),
        precedents=0 if incident is None or action_name is None
        else verified_precedents(session, incident=incident, action_name=action_name, now=now),
    )


def alert_identity(title: str, labels: Mapping[str, str]) -> str:
    """What makes two incidents "the same alert" for a precedent: the alertname label,
    else the title (policy.md, *Precedent*)."""
    return labels.get("alertname") or title


def verified_precedents(
    session: Session, *, incident: Incident, action_name: str, now: datetime
) -> int:
    """Check 10b's precedents: how many earlier incidents of ``incident``'s service key and
    alert identity ``action_name`` fixed, its execution having run for real (not a dry
    run) and verified healthy. The one query for precedents."""
    identity = alert_identity(incident.title, incident.labels)
    rows = session.execute(
        select(ExecutionRow.incident_id, ExecutionRow.action, ExecutionRow.verification,
               IncidentRow.title, IncidentRow.labels)
        .join(IncidentRow, IncidentRow.id == ExecutionRow.incident_id)
        .where(ExecutionRow.service_key == incident.service_key,
               ExecutionRow.status == ExecutionStatus.SUCCEEDED.value,
               ExecutionRow.verification.is_not(None),
               ExecutionRow.incident_id != incident.id,
               ExecutionRow.started_at < now)
    )
    fixed = {
        incident_id for incident_id, action, verification, title, labels in rows
        if (action or {}).get("name") == action_name
        and (verification or {}).get("ok") is True
        and alert_identity(title, labels or {}) == identity
    }
    return len(fixed)
