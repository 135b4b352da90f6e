"""Shared request dependencies, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Path, Request

from warden.errors import NotAuthenticated

if TYPE_CHECKING:
    from warden.app import Warden


# Dependencies are ``async def`` although they never wait: FastAPI runs a plain ``def``
# dependency in its thread pool, a thread hop per request for an attribute lookup.
async def _warden(request: Request) -> Warden:
    warden: Warden = request.app.state.warden
    return warden


WardenDep = Annotated["Warden", Depends(_warden)]


async def _approver(
    warden: WardenDep, authorization: Annotated[str | None, Header()] = None
) -> str:
    """The user a bearer token belongs to (``WARDEN_API_TOKENS``); 401 otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send Authorization: Bearer TOKEN")
    user = warden.settings.user_for_token(token.strip())
    if user is None:
        raise NotAuthenticated("unknown token")
    return user


ApproverDep = Annotated[str, Depends(_approver)]

MAX_ROW_ID = 2**63 - 1
"""Row ids are 64-bit in both stores."""

IncidentId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
"""An incident id in a path: a number no row can have is refused (422) before the store
sees it (SQLite cannot even compare one past 64 bits: it raised, and the answer was 500)."""
