"""``/policy``: the active policy, readably, and the services frozen by the loop breaker."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from warden.web.console._policy_view import policy_page
from warden.web.console._render import render
from warden.web.deps import SessionDep, WardenDep

router = APIRouter(include_in_schema=False)


@router.get("/policy", response_class=HTMLResponse)
async def policy(request: Request, warden: WardenDep, session: SessionDep) -> HTMLResponse:
    page = await run_in_threadpool(policy_page, warden)
    return render(request, "policy.html", {"page": page}, session=session)
