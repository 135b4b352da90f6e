"""Read-side queries shared by the JSON API, the console, the CLI and reports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from warden.config import Settings
from warden.store.tables import (
    LEDGER_RESERVED,
    AlertRow,
    ApprovalRow,
    DeliveryRow,
    ExecutionRow,
    IncidentRow,
    LedgerRow,
)

# A typed "%" or "_" is searched for as itself, not as a wildcard.
_LIKE_SPECIAL = re.compile(r"[\\%_]")


@dataclass(frozen=True, slots=True)
class IncidentPage:
    items: list[IncidentRow]
    total: int


def list_incidents(
    session: Session, *, status: str | None = None, service: str | None = None,
    search: str | None = None, limit: int = 100, offset: int = 0,
) -> IncidentPage:
    """Incidents, newest first, filtered by status and service (exact), and by ``search``:
    words found, case-insensitively, in the service or the title (every word must be)."""
    where: list[Any] = []
    if status:
        where.append(IncidentRow.status == status)
    if service:
        where.append(IncidentRow.service == service)
    for word in (search or "").split():
        pattern = "%" + _LIKE_SPECIAL.sub(r"\\\g<0>", word.lower()) + "%"
        where.append(or_(func.lower(IncidentRow.service).like(pattern, escape="\\"),
                         func.lower(IncidentRow.title).like(pattern, escape="\\")))
    total = session.execute(
        select(func.count()).select_from(IncidentRow).where(*where)
    ).scalar_one()
    items = session.execute(
        select(IncidentRow).where(*where).order_by(IncidentRow.id.desc())
        .limit(limit).offset(offset)
    ).scalars().all()
    return IncidentPage(list(items), total)


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    incident: IncidentRow
    alerts: list[AlertRow]
    deliveries: list[DeliveryRow]
    approvals: list[ApprovalRow]
    executions: list[ExecutionRow]
    ledger: list[LedgerRow]


def incident_detail(session: Session, incident_id: int) -> IncidentDetail | None:
    """An incident with everything recorded about it, or None when there is no such id."""
    incident = session.get(IncidentRow, incident_id)
    if incident is None:
        return None
    alerts = list(session.execute(
        select(AlertRow).where(AlertRow.incident_id == incident_id).order_by(AlertRow.id)
    ).scalars())
    delivery_ids = sorted({a.delivery_id for a in alerts})
    deliveries = list(session.execute(
        select(DeliveryRow).where(DeliveryRow.id.in_(delivery_ids[:50])).order_by(DeliveryRow.id)
    ).scalars())
    approvals = list(session.execute(
        select(ApprovalRow).where(ApprovalRow.incident_id == incident_id)
        .order_by(ApprovalRow.id)
    ).scalars())
    executions = list(session.execute(
        select(ExecutionRow).where(ExecutionRow.incident_id == incident_id)
        .order_by(ExecutionRow.id)
    ).scalars())
    ledger = list(session.execute(
        select(LedgerRow).where(LedgerRow.incident_id == incident_id).order_by(LedgerRow.id)
    ).scalars())
    return IncidentDetail(incident, alerts, deliveries, approvals, executions, ledger)


@dataclass(frozen=True, slots=True)
class SpendLine:
    """Spend of one model or one service: this month, and today within it."""

    name: str
    calls_month: int
    usd_month: float
    usd_today: float
    tokens_month: int


@dataclass(frozen=True, slots=True)
class DaySpend:
    day: datetime
    usd: float


@dataclass(frozen=True, slots=True)
class SpendReport:
    """Model spend today and this month against the budgets; days and months are UTC,
    as the budgets in ``triage.spend`` count them."""

    now: datetime
    today_usd: float
    month_usd: float
    budget_daily_usd: float
    budget_monthly_usd: float
    budget_incident_usd: float
    by_model: list[SpendLine]
    by_service: list[SpendLine]
    days: list[DaySpend]


def spend_report(session: Session, settings: Settings, now: datetime) -> SpendReport:
    """Spend today and this month, by model and by service, and per day of this month."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    by_model = _spend_by(session, LedgerRow.model, month_start, day_start)
    by_service = _spend_by(session, LedgerRow.service, month_start, day_start)
    days = []
    day = month_start
    # One indexed range sum per day: portable across SQLite and PostgreSQL, whose
    # date functions disagree about time zones.
    while day <= day_start:
        nxt = day + timedelta(days=1)
        usd = session.execute(
            select(func.coalesce(func.sum(LedgerRow.cost_usd), 0.0))
            .where(LedgerRow.at >= day, LedgerRow.at < nxt)
        ).scalar_one()
        days.append(DaySpend(day, float(usd)))
        day = nxt
    return SpendReport(
        now=now,
        today_usd=days[-1].usd,
        month_usd=sum(d.usd for d in days),
        budget_daily_usd=settings.budget_daily_usd,
        budget_monthly_usd=settings.budget_monthly_usd,
        budget_incident_usd=settings.budget_incident_usd,
        by_model=by_model, by_service=by_service, days=days,
    )


def _spend_by(session: Session, column: Any, month_start: datetime,
              day_start: datetime) -> list[SpendLine]:
    today = func.sum(LedgerRow.cost_usd).filter(LedgerRow.at >= day_start)
    rows = session.execute(
        select(
            column,
            func.count().filter(LedgerRow.outcome != LEDGER_RESERVED),
            func.coalesce(func.sum(LedgerRow.cost_usd), 0.0),
            func.coalesce(today, 0.0),
            func.coalesce(func.sum(LedgerRow.prompt_tokens + LedgerRow.completion_tokens), 0),
        )
        .where(LedgerRow.at >= month_start)
        .group_by(column)
        .order_by(func.sum(LedgerRow.cost_usd).desc(), column)
    ).all()
    return [SpendLine(name=str(r[0]), calls_month=int(r[1]), usd_month=float(r[2]),
                      usd_today=float(r[3]), tokens_month=int(r[4])) for r in rows]
