"""The triage console: server-rendered pages for the on-call engineer.

``install(app)`` adds the pages, the static files and the sign-in redirect to the app.
Pages: ``/`` (incidents, live, paged, searchable), ``/incidents/{id}`` (detail,
approve/reject, acknowledge/resolve), ``/incidents/{id}/report`` (the post-mortem),
``/cost``, ``/policy``, ``/policy/replay`` (admins), ``/trust``, ``/login``, ``/logout``;
``/favicon.ico``. Once any API token is configured every page but ``/login`` needs a
signed-in user (others are sent to ``/login``). Approving, acknowledging and resolving
need a signed-in approver; a verdict goes through the approval stage's entry point,
channel ``console``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from warden.web.console import cost, incidents, login, policy, report, trust
from warden.web.console._render import SECURITY_HEADERS, STATIC_DIR
from warden.web.deps import SessionDep, WardenDep

if TYPE_CHECKING:
    from fastapi import FastAPI


class SignInFirst(Exception):
    """A console page was asked for without a session while tokens are configured."""


async def _signed_in(request: Request, warden: WardenDep, session: SessionDep) -> None:
    """Reads need a session once tokens are configured (a form POST checks its own)."""
    if request.method == "GET" and session is None and warden.settings.api_tokens:
        raise SignInFirst(request.url.path)


router = APIRouter(include_in_schema=False)
router.include_router(login.router)
for _module in (incidents, report, cost, policy, trust):
    router.include_router(_module.router, dependencies=[Depends(_signed_in)])


def install(app: FastAPI) -> None:
    """Serve the console from ``app``, whose ``state.warden`` is the running Warden."""
    app.include_router(router)

    @app.exception_handler(SignInFirst)
    async def _to_login(request: Request, exc: SignInFirst) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(str(exc))}", status_code=303,
                                headers=dict(SECURITY_HEADERS))

    @app.get("/favicon.ico", include_in_schema=False)
    async def _favicon() -> FileResponse:
        # Browsers ask for /favicon.ico whatever the page links; an SVG answers for both.
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


__all__ = ["install", "router"]
