"""``/login`` and ``/logout``: a user signs in with their API token.

The login form is protected by a double-submit token (a random value in a SameSite=Strict
cookie, echoed in the form), so another site cannot sign a browser in as someone else.
Wrong tokens count against the client's limit of failures (``deps.FailureLimiter``).
Signing out deletes the session from the store.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from warden.errors import TooManyFailures
from warden.web.console._render import SECURITY_HEADERS, render
from warden.web.console._session import LOGIN_COOKIE, clear_cookie, set_cookie
from warden.web.deps import SessionDep, WardenDep, client_of, limiter
from warden.web.sessions import (
    SESSION_COOKIE,
    SESSION_TTL,
    close_session,
    csrf_ok,
    open_session,
)

if TYPE_CHECKING:
    from warden.app import Warden

router = APIRouter(include_in_schema=False)

_LOGIN_COOKIE_AGE_S = 1800


def safe_next(target: str | None) -> str:
    """Only a path on this site: never ``//host`` or ``/\\host`` (open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ch in target for ch in "\\\r\n"):
        return "/"
    return target


def _login_form(request: Request, warden: Warden, *, next_path: str,
                error: str | None = None, status_code: int = 200) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    response = render(request, "login.html",
                      {"login_csrf": nonce, "next": next_path, "error": error,
                       "tokens_configured": bool(warden.settings.api_tokens)},
                      session=None, status_code=status_code)
    set_cookie(request, response, LOGIN_COOKIE, nonce, max_age_s=_LOGIN_COOKIE_AGE_S)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request, warden: WardenDep,
    next_path: Annotated[str | None, Query(alias="next")] = None,
) -> HTMLResponse:
    return _login_form(request, warden, next_path=safe_next(next_path))


@router.post("/login")
async def login(
    request: Request,
    warden: WardenDep,
    token: Annotated[str, Form(max_length=4096)] = "",
    csrf: Annotated[str, Form(max_length=256)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    """Sign in: a known token sets the session cookie and goes back where the user was."""
    target = safe_next(next_path)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        return _login_form(request, warden, next_path=target, status_code=403,
                           error="The sign-in form expired. Please try again.")
    client = client_of(request)
    try:
        limiter(request).check(client)
    except TooManyFailures as exc:
        refused = _login_form(request, warden, next_path=target, status_code=429, error=str(exc))
        refused.headers["Retry-After"] = str(exc.retry_after_s)
        return refused
    identity = warden.settings.identify(token.strip()) if token.strip() else None
    if identity is None:
        limiter(request).failed(client)
        return _login_form(request, warden, next_path=target, status_code=401,
                           error="That token does not belong to anyone.")
    response = RedirectResponse(target, status_code=303, headers=dict(SECURITY_HEADERS))
    value = await run_in_threadpool(lambda: open_session(
        warden.store, identity.name, api_token=token.strip(), now=warden.clock()))
    set_cookie(request, response, SESSION_COOKIE, value,
               max_age_s=int(SESSION_TTL.total_seconds()))
    clear_cookie(request, response, LOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout(
    request: Request, warden: WardenDep, session: SessionDep,
    csrf: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """Sign out: the session is deleted from the store, so its cookie opens nothing
    anywhere. Needs the session's CSRF token, so no other site can sign anyone out."""
    if session is not None and not csrf_ok(session, csrf):
        return render(request, "error.html",
                      {"title": "Not signed out",
                       "message": "The form's security token did not match; reload the page "
                                  "and try again."},
                      session=session, status_code=403)
    if session is not None:
        await run_in_threadpool(close_session, warden.store, request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/", status_code=303, headers=dict(SECURITY_HEADERS))
    clear_cookie(request, response, SESSION_COOKIE)
    return response
