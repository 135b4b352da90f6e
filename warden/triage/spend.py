"""Budgets and model-call rate limits, held in the database so they bind every replica.

The checks are pure functions of the counts; ``reserve`` reads the counts and writes a
reservation row in one serialised transaction (PostgreSQL: an advisory lock; SQLite: its
single writer), so two replicas cannot both take the last call a limit allows. The
reservation books an estimate of the call's cost until the call is settled with its real
cost, so many calls in flight at once cannot all pass a budget that only one of them fits.
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
    typical_call_usd: float | None  # None: no call has cost anything yet


def estimate_usd(usage: Usage, settings: Settings) -> float:
    """What the next call will probably cost: the mean of the latest calls, or
    ``WARDEN_LLM_CALL_ESTIMATE_USD`` before any call was made."""
    if usage.typical_call_usd is None:
        return settings.llm_call_estimate_usd
    return usage.typical_call_usd


def refusal(usage: Usage, settings: Settings) -> str | None:
    """Why one more model call may not be made now, or None. Pure.

    Budgets are hard caps: a call is refused when the spend so far (calls in flight count
    with their estimate) plus a typical call would pass the cap, so a budget is never
    overrun by more than one call's variance. Before any call has cost anything only the
    spend so far counts, so the first call shows what calls cost.
    """
    typical = usage.typical_call_usd or 0.0
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
        # The epsilon keeps a budget worth exactly N calls worth N calls despite float sums.
        if spent >= cap or spent + typical > cap + 1e-9:
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
        typical_call_usd=sum(typical) / len(typical) if typical else None,
    )


def reserve(
    session: Session, *, settings: Settings, service: str, incident_id: int, provider: str,
    model: str, now: datetime,
) -> LedgerRow | str:
    """A reservation row for one model call, or the reason none may be made now."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LEDGER_LOCK_ID})
    counts = usage(session, service=service, incident_id=incident_id, now=now)
    why = refusal(counts, settings)
    if why is not None:
        return why
    row = LedgerRow(incident_id=incident_id, service=service, provider=provider, model=model,
                    outcome=LEDGER_RESERVED, cost_usd=estimate_usd(counts, settings), at=now)
    session.add(row)
    session.flush()
    return row
