"""``/cost``: model spend today and this month against the budgets."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from warden.store.queries import SpendReport, spend_report
from warden.web.console._cost_view import daily_chart
from warden.web.console._render import render
from warden.web.deps import SessionDep, WardenDep

router = APIRouter(include_in_schema=False)


@router.get("/cost", response_class=HTMLResponse)
async def cost(request: Request, warden: WardenDep, session: SessionDep) -> HTMLResponse:
    def report() -> SpendReport:
        with warden.store.session() as db:
            return spend_report(db, warden.settings, warden.clock())

    page = await run_in_threadpool(report)
    return render(request, "cost.html", {"page": page, "chart": daily_chart(page)},
                  session=session)
