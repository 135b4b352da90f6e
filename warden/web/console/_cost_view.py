"""The cost page's chart of the spend report (``store.queries.spend_report``)."""

from __future__ import annotations

from dataclasses import dataclass

from warden.store.queries import SpendReport


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


def daily_chart(page: SpendReport, *, width: int = 640, height: int = 160) -> Chart:
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
