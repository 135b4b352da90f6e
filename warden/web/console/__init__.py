"""The triage console: server-rendered pages for the on-call engineer.

``install(app)`` adds the pages, the static files and the session signer to the app.
Pages: ``/`` (incidents, live), ``/incidents/{id}`` (detail, approve/reject), ``/cost``,
``/policy``, ``/login``, ``/logout``. Approving needs a signed-in approver (session cookie
from ``/login``) and goes through the approval stage's entry point, channel ``console``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from warden.web.console import cost, incidents, login, policy
from warden.web.console._render import STATIC_DIR
from warden.web.console._session import SessionSigner

if TYPE_CHECKING:
    from fastapi import FastAPI

    from warden.app import Warden

router = APIRouter(include_in_schema=False)
for _module in (incidents, login, cost, policy):
    router.include_router(_module.router)


def install(app: FastAPI) -> None:
    """Serve the console from ``app``, whose ``state.warden`` is the running Warden."""
    warden: Warden = app.state.warden
    app.state.console_signer = SessionSigner.from_settings(warden.settings)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


__all__ = ["install", "router"]
