"""Budgets and model-call rate limits, held in the database so they bind every replica.

The checks are pure functions of the counts; ``reserve`` reads the counts and writes a
reservation row in one serialised transaction, so two replicas cannot both take the last
call a limit allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from warden.config import Settings
from warden.store.tables import LEDGER_RESERVED, LedgerRow

_LEDGER_LOCK_ID = 0x57A7DE13


@dataclass(frozen=True, slots=True)
class Usage:
    """What the ledger says at one moment."""

    calls_last_minute: int
    service_calls_last_minute: int
    spent_today_usd: float
    spent_month_usd: float
    spent_incident_usd: float
    typical_call_usd: float


def refusal(usage: Usage, settings: Settings) -> str | None:
    """Why one more model call may not be made now, or None. Pure.

    Budgets are hard caps: a call is refused when the spend so far plus a typical call
    would pass the cap, so a budget is never overrun by more than one call's variance.
    """
    if usage.calls_last_minute >= settings.model_calls_per_minute:
        return (f"rate_limited: {usage.calls_last_minute} model calls in the last minute "
                f"(limit {settings.model_calls_per_minute})")
    if usage.service_calls_last_minute >= settings.model_calls_per_minute_per_service:
        return (f"rate_limited: {usage.service_calls_last_minute} model calls for this service "
                f"in the last minute (limit {settings.model_calls_per_minute_per_service})")
    for name, spent, cap in (
        ("daily", usage.spent_today_usd, settings.budget_daily_usd),
        ("monthly", usage.spent_month_usd, settings.budget_monthly_usd),
        ("incident", usage.spent_incident_usd, settings.budget_incident_usd),
    ):
        if spent >= cap or spent + usage.typical_call_usd > cap:
            return f"budget_exhausted: {name} budget ${cap:.2f}, spent ${spent:.4f}"
    return None


def usage(session: Session, *, service: str, incident_id: int, now: datetime) -> Usage:
    minute_ago = now - timedelta(minutes=1)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)

    def scalar(stmt: object) -> float:
        return float(session.execute(stmt).scalar_one() or 0)  # type: ignore[call-overload]

    recent = select(func.count()).select_from(LedgerRow).where(LedgerRow.at >= minute_ago)
    typical = session.execute(
        select(LedgerRow.cost_usd).where(LedgerRow.outcome == "ok")
        .order_by(LedgerRow.id.desc()).limit(20)
    ).scalars().all()
    return Usage(
        calls_last_minute=int(scalar(recent)),
        service_calls_last_minute=int(scalar(recent.where(LedgerRow.service == service))),
        spent_today_usd=scalar(select(func.sum(LedgerRow.cost_usd))
                               .where(LedgerRow.at >= day_start)),
        spent_month_usd=scalar(select(func.sum(LedgerRow.cost_usd))
                               .where(LedgerRow.at >= month_start)),
        spent_incident_usd=scalar(select(func.sum(LedgerRow.cost_usd))
                                  .where(LedgerRow.incident_id == incident_id)),
        typical_call_usd=sum(typical) / len(typical) if typical else 0.0,
    )


def reserve(
    session: Session, *, settings: Settings, service: str, incident_id: int, provider: str,
    model: str, now: datetime,
) -> LedgerRow | str:
    """A reservation row for one model call, or the reason none may be made now."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LEDGER_LOCK_ID})
    why = refusal(usage(session, service=service, incident_id=incident_id, now=now), settings)
    if why is not None:
        return why
    row = LedgerRow(incident_id=incident_id, service=service, provider=provider, model=model,
                    outcome=LEDGER_RESERVED, at=now)
    session.add(row)
    session.flush()
    return row
