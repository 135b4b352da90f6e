"""The execution history the policy weighs (policy.md, checks 9 and 10)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warden.domain import History
from warden.store.tables import ExecutionRow, FreezeRow


def history_for(session: Session, *, service: str, now: datetime) -> History:
    """Automated executions (dry runs included, approved ones not) as the policy counts them."""
    hour_ago = now - timedelta(hours=1)
    automated = select(func.count()).select_from(ExecutionRow).where(
        ExecutionRow.automated.is_(True), ExecutionRow.started_at >= hour_ago
    )
    last = session.execute(
        select(func.max(ExecutionRow.started_at)).where(
            ExecutionRow.automated.is_(True), ExecutionRow.service == service
        )
    ).scalar_one_or_none()
    return History(
        automated_executions_last_hour=session.execute(automated).scalar_one(),
        service_executions_last_hour=session.execute(
            automated.where(ExecutionRow.service == service)
        ).scalar_one(),
        last_automated_minutes_ago=None if last is None else (now - last).total_seconds() / 60,
        frozen=session.get(FreezeRow, service) is not None,
    )
