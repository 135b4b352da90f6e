"""``warden cost``: model spend by day, model and service, against the budgets."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def cost(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of tables.")]
    = False,
) -> None:
    """Print this month's model spend (UTC days) from the cost ledger, against the budgets."""
    from rich.console import Console
    from rich.table import Table

    from warden.cli.ops import load_warden
    from warden.store.queries import spend_report

    warden = load_warden()
    try:
        with warden.store.session() as session:
            page = spend_report(session, warden.settings, warden.clock())
    finally:
        warden.store.dispose()
    if as_json:
        typer.echo(json.dumps({
            "today_usd": page.today_usd, "month_usd": page.month_usd,
            "budget_daily_usd": page.budget_daily_usd,
            "budget_monthly_usd": page.budget_monthly_usd,
            "by_day": {f"{d.day:%Y-%m-%d}": d.usd for d in page.days},
            "by_model": {m.name: m.usd_month for m in page.by_model},
            "by_service": {s.name: s.usd_month for s in page.by_service},
        }))
        return
    console = Console()
    console.print(f"today  ${page.today_usd:.4f} of ${page.budget_daily_usd:.2f} a day")
    console.print(f"month  ${page.month_usd:.4f} of ${page.budget_monthly_usd:.2f} a month")
    days = Table(title="By day (UTC)")
    days.add_column("day")
    days.add_column("USD", justify="right")
    for day in page.days:
        if day.usd:
            days.add_row(f"{day.day:%Y-%m-%d}", f"{day.usd:.4f}")
    console.print(days)
    for title, lines in (("By model", page.by_model), ("By service", page.by_service)):
        table = Table(title=f"{title}, this month")
        for column in ("name", "calls", "tokens", "USD today", "USD month"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for line in lines:
            table.add_row(line.name, str(line.calls_month), str(line.tokens_month),
                          f"{line.usd_today:.4f}", f"{line.usd_month:.4f}")
        console.print(table)
