"""What the cost page shows: model spend from the cost ledger against the budgets.

Days and months are UTC, as the budgets in ``triage.spend`` count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from warden.store.tables import LedgerRow
from warden.triage.spend import RESERVED

if TYPE_CHECKING:
    from warden.app import Warden


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
class CostPage:
    now: datetime
    today_usd: float
    month_usd: float
    budget_daily_usd: float
    budget_monthly_usd: float
    budget_incident_usd: float
    by_model: list[SpendLine]
    by_service: list[SpendLine]
    days: list[DaySpend]


def cost_page(warden: Warden) -> CostPage:
    """Spend today and this month, by model and by service, and per day of this month."""
    settings = warden.settings
    now = warden.clock()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    with warden.store.session() as session:
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
    return CostPage(
        now=now,
        today_usd=days[-1].usd,
        month_usd=sum(d.usd for d in days),
        budget_daily_usd=settings.budget_daily_usd,
        budget_monthly_usd=settings.budget_monthly_usd,
        budget_incident_usd=settings.budget_incident_usd,
        by_model=by_model, by_service=by_service, days=days,
    )


def _spend_by(session: Any, column: Any, month_start: datetime,
              day_start: datetime) -> list[SpendLine]:
    today = func.sum(LedgerRow.cost_usd).filter(LedgerRow.at >= day_start)
    rows = session.execute(
        select(
            column,
            func.count().filter(LedgerRow.outcome != RESERVED),
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


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    over_budget: bool


@dataclass(frozen=True, slots=True)
class Chart:
    """An SVG bar chart of spend per day, drawn by the template from these numbers."""

    width: int
    height: int
    bars: list[Bar]
    budget_y: float | None
    top_usd: float
    summary: str


def daily_chart(page: CostPage, *, width: int = 640, height: int = 160) -> Chart:
    """Bars per day of the month, scaled to the larger of the top day and the daily budget."""
    top = max([d.usd for d in page.days] + [page.budget_daily_usd, 0.01])
    slot = width / max(len(page.days), 28)
    bars = []
    for index, day in enumerate(page.days):
        bar_height = height * day.usd / top
        bars.append(Bar(
            x=round(index * slot + 1, 2), y=round(height - bar_height, 2),
            width=round(max(slot - 2, 1), 2), height=round(bar_height, 2),
            label=f"{day.day:%b %d}: ${day.usd:.4f}",
            over_budget=day.usd > page.budget_daily_usd,
        ))
    budget_y = (round(height - height * page.budget_daily_usd / top, 2)
                if page.budget_daily_usd > 0 else None)
    highest = max(d.usd for d in page.days)
    summary = (f"Spend per day this month; today ${page.today_usd:.4f} of a "
               f"${page.budget_daily_usd:.2f} daily budget; highest day ${highest:.4f}.")
    return Chart(width, height, bars, budget_y, top, summary)
