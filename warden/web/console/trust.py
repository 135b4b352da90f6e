"""``/trust``: agreement figures and promotion hints; ``/policy/replay``: an uploaded
policy replayed over the recorded decisions (admins only; nothing runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from warden.app import Warden
from warden.config import Role
from warden.errors import PolicyLoadError, ReplayRefused
from warden.policy import ReplayResult, load_policy_text
from warden.trust.replay import replay_recorded
from warden.trust.stats import agreement_stats
from warden.trust.window import since_start
from warden.web.console._render import render
from warden.web.deps import SessionDep, WardenDep
from warden.web.sessions import ConsoleSession, csrf_ok

router = APIRouter(include_in_schema=False)

MAX_POLICY_BYTES = 256 * 1024
SINCE_CHOICES = ("1d", "7d", "30d", "90d", "all")


@router.get("/trust", response_class=HTMLResponse)
async def trust(request: Request, warden: WardenDep, session: SessionDep,
                since: str = "30d") -> HTMLResponse:
    try:
        start = since_start(since, warden.clock())
    except ValueError as exc:
        return render(request, "trust.html", {"error": str(exc), "since": "30d",
                                              "choices": SINCE_CHOICES, "figures": None},
                      session=session, status_code=400)
    figures = await run_in_threadpool(_stats, warden, start)
    return render(request, "trust.html", {"figures": figures, "since": since,
                                          "choices": SINCE_CHOICES, "error": None},
                  session=session)


def _stats(warden: Warden, start: datetime | None) -> dict[str, Any]:
    with warden.store.session() as db:
        return agreement_stats(db, warden.policy.current, since=start)


@router.get("/policy/replay", response_class=HTMLResponse)
async def replay_form(request: Request, session: SessionDep) -> HTMLResponse:
    return _replay_page(request, session, status_code=200 if _is_admin(session) else 403)


@router.post("/policy/replay", response_class=HTMLResponse)
async def replay_upload(
    request: Request, warden: WardenDep, session: SessionDep,
    policy: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form(max_length=256)] = "",
    since: Annotated[str, Form(max_length=16)] = "30d",
) -> HTMLResponse:
    """Replay the uploaded policy file over the decisions recorded since ``since``."""
    if session is None or not _is_admin(session) or not csrf_ok(session, csrf):
        return _replay_page(request, session, status_code=403,
                            error="Replay needs a signed-in admin and the page's own form.")
    raw = await policy.read(MAX_POLICY_BYTES + 1)
    name = policy.filename or "uploaded policy"
    try:
        if len(raw) > MAX_POLICY_BYTES:
            raise ValueError(f"{name} is over {MAX_POLICY_BYTES // 1024} KiB")
        new = load_policy_text(raw.decode("utf-8"), name)
        start = since_start(since, warden.clock())
        result = await run_in_threadpool(_replay, warden, new, start)
    except UnicodeDecodeError:
        return _replay_page(request, session, status_code=400,
                            error=f"{name} is not UTF-8 text; nothing was replayed.")
    except (PolicyLoadError, ValueError, ReplayRefused) as exc:
        return _replay_page(request, session, status_code=400,
                            error=f"Nothing was replayed: {exc}")
    return _replay_page(request, session, result=result, name=name)


def _replay(warden: Warden, new: Any, start: datetime | None) -> ReplayResult:
    with warden.store.session() as db:
        return replay_recorded(db, new, since=start)


def _is_admin(session: ConsoleSession | None) -> bool:
    return session is not None and session.role.allows(Role.ADMIN)


def _replay_page(request: Request, session: ConsoleSession | None, *, status_code: int = 200,
                 error: str | None = None, result: ReplayResult | None = None,
                 name: str | None = None) -> HTMLResponse:
    return render(request, "policy_replay.html",
                  {"admin": _is_admin(session), "error": error, "result": result,
                   "name": name, "choices": SINCE_CHOICES},
                  session=session, status_code=status_code)
