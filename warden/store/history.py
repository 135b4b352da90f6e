"""The history the policy weighs (policy.md, checks 5b, 9, 10 and 10b), by service key."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warden.changes.queries import deployed_versions
from warden.domain import History, Incident, service_key
from warden.store.similar import identity_of, precedents
from warden.store.tables import ExecutionRow, FreezeRow


def history_for(
    session: Session, *, service: str, now: datetime, grounding_days: float,
    incident: Incident | None = None, action_name: str | None = None,
) -> History:
    """Automated executions (dry runs included, approved ones not), the freeze and the
    recorded deploys within the policy's ``grounding_days``, as the policy counts them,
    for every spelling of ``service`` (its service key); with ``incident`` and
    ``action_name``, the precedents of that action for it (check 10b), from the same
    records incident memory reads.
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
        deployed_versions=deployed_versions(session, key, now, grounding_days),
        precedents=0 if incident is None or action_name is None else precedents(
            session, incident_id=incident.id, service=incident.service,
            identity=identity_of(incident.labels, incident.title), action=action_name,
            before=incident.first_seen),
    )
