"""Shared request dependencies, as ``Annotated`` aliases: the running Warden, and who a
request comes from (a bearer token of ``WARDEN_API_TOKENS`` or a console session).

Once any API token is configured, every read needs one of the two (``ReaderDep``);
without tokens reads stay open, and the server says so loudly at start. Changing state
always needs a bearer token of a sufficient role. Wrong credentials are counted per
client: past ``WARDEN_AUTH_FAILURES_PER_MINUTE`` the client gets 429 with Retry-After.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.concurrency import run_in_threadpool

from warden.config import Identity, Role
from warden.errors import NotAllowed, NotAuthenticated, TooManyFailures
from warden.web.sessions import SESSION_COOKIE, ConsoleSession, read_session

if TYPE_CHECKING:
    from warden.app import Warden


# Dependencies are ``async def`` although they never wait: FastAPI runs a plain ``def``
# dependency in its thread pool, a thread hop per request for an attribute lookup.
async def _warden(request: Request) -> Warden:
    warden: Warden = request.app.state.warden
    return warden


WardenDep = Annotated["Warden", Depends(_warden)]


class FailureLimiter:
    """Wrong credentials per client over the last minute, in this process.

    Once a client reached the limit, every credential it sends is refused (even a right
    one) until its oldest failure is a minute old: guessing gains nothing by going on.
    """

    WINDOW_S = 60.0
    MAX_CLIENTS = 100_000  # past this many, clients with no recent failure are forgotten

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        seen = self._failures.setdefault(client, deque())
        while seen and seen[0] <= now - self.WINDOW_S:
            seen.popleft()
        return seen

    def check(self, client: str) -> None:
        """Raise ``TooManyFailures`` while ``client`` is over the limit."""
        now = time.monotonic()
        with self._lock:
            seen = self._recent(client, now)
            if len(seen) < self.per_minute:
                if not seen:
                    del self._failures[client]
                return
            wait = int(seen[0] + self.WINDOW_S - now) + 1
        raise TooManyFailures(f"too many wrong credentials from {client}; try again in "
                              f"{wait} s", retry_after_s=wait)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= self.MAX_CLIENTS:
                for stale in [c for c, seen in self._failures.items()
                              if not seen or seen[-1] <= now - self.WINDOW_S]:
                    del self._failures[stale]
            self._recent(client, now).append(now)


def client_of(request: Request) -> str:
    """The client's address (behind a proxy, run uvicorn with ``--proxy-headers`` and
    ``--forwarded-allow-ips`` so that this is the browser's, not the proxy's)."""
    return request.client.host if request.client is not None else "unknown"


def limiter(request: Request) -> FailureLimiter:
    found: FailureLimiter = request.app.state.auth_failures
    return found


async def _session(request: Request, warden: WardenDep) -> ConsoleSession | None:
    """The console session the request's cookie names, or None."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value or len(value) > 256:
        return None
    return await run_in_threadpool(read_session, warden.store, warden.settings, value,
                                   now=warden.clock())


SessionDep = Annotated[ConsoleSession | None, Depends(_session)]


async def _bearer(
    request: Request, warden: WardenDep, authorization: Annotated[str | None, Header()] = None
) -> Identity | None:
    """Who the request's bearer token belongs to; None without one; 401 for a wrong one."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send Authorization: Bearer TOKEN")
    client = client_of(request)
    limiter(request).check(client)
    identity = warden.settings.identify(token.strip())
    if identity is None:
        limiter(request).failed(client)
        raise NotAuthenticated("unknown token")
    return identity


BearerDep = Annotated[Identity | None, Depends(_bearer)]


async def _reader(warden: WardenDep, bearer: BearerDep, session: SessionDep) -> Identity | None:
    """Who reads: a bearer token or a console session; anyone while no token is configured."""
    found = bearer or (session.identity if session is not None else None)
    if found is None and warden.settings.api_tokens:
        raise NotAuthenticated("reads need a token: send Authorization: Bearer TOKEN")
    return found


ReaderDep = Annotated[Identity | None, Depends(_reader)]


def _needs(role: Role, bearer: Identity | None) -> Identity:
    if bearer is None:
        raise NotAuthenticated("send Authorization: Bearer TOKEN")
    if not bearer.role.allows(role):
        raise NotAllowed(f"{bearer.name!r} holds a {bearer.role} token; this needs {role}")
    return bearer


async def _approver(bearer: BearerDep) -> Identity:
    return _needs(Role.APPROVER, bearer)


async def _admin(bearer: BearerDep) -> Identity:
    return _needs(Role.ADMIN, bearer)


ApproverDep = Annotated[Identity, Depends(_approver)]
"""A bearer token of role approver or admin (the policy's lists still decide which tiers)."""

AdminDep = Annotated[Identity, Depends(_admin)]

MAX_ROW_ID = 2**63 - 1
"""Row ids are 64-bit in both stores."""

IncidentId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
"""An incident id in a path: a number no row can have is refused (422) before the store
sees it (SQLite cannot even compare one past 64 bits: it raised, and the answer was 500)."""
