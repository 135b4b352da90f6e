"""The FastAPI application: routers, the error mapping and request metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warden.errors import (
    ApprovalError,
    IngestError,
    OverloadedError,
    PayloadError,
    TooManyFailures,
    WardenError,
)
from warden.metrics import Metrics
from warden.web import (
    approvals,
    changes,
    console,
    health,
    incidents,
    ingest,
    pagerduty_events,
    slack,
)
from warden.web._media_type import document_json_only, require_json
from warden.web.deps import FailureLimiter

if TYPE_CHECKING:
    from warden.app import Warden

log = structlog.get_logger("warden.web")


def create_app(warden: Warden) -> FastAPI:
    """The HTTP face of ``warden``; starting the app starts its worker, stopping stops it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        warden.start()
        try:
            yield
        finally:
            warden.stop()

    app = FastAPI(title="Warden", version="0.1.0", lifespan=lifespan,
                  description="Incident triage: AI proposes, policy disposes, a human approves.",
                  dependencies=[Depends(require_json)])
    app.state.warden = warden
    app.state.auth_failures = FailureLimiter(warden.settings.auth_failures_per_minute)
    for router in (ingest.router, incidents.router, approvals.router, slack.router,
                   health.router, changes.router, pagerduty_events.router):
        app.include_router(router)
    console.install(app)
    document_json_only(app)

    @app.exception_handler(WardenError)
    async def _warden_error(request: Request, exc: WardenError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes each error's input and answers 500 when that input
        # is bytes that are not UTF-8 (a JSON body that does not decode): say where and
        # what, never the input.
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    app.add_middleware(ingest.DirectIngest, warden=warden, error_handler=error_response)
    app.add_middleware(_RequestMetrics, metrics=warden.metrics)
    return app


def error_response(exc: WardenError) -> JSONResponse:
    """The one mapping from Warden's errors to HTTP answers."""
    headers: dict[str, str] = {}
    body: dict[str, object] = {"error": type(exc).__name__, "detail": str(exc)}
    if isinstance(exc, OverloadedError):
        status = 503
        headers["Retry-After"] = str(exc.retry_after_s)
    elif isinstance(exc, PayloadError):
        status = exc.status_code
        body["where"] = exc.where
    elif isinstance(exc, IngestError | ApprovalError):
        status = exc.status_code
        if isinstance(exc, TooManyFailures):
            headers["Retry-After"] = str(exc.retry_after_s)
    else:
        status = 500
        log.error("unexpected_warden_error", error=str(exc), kind=type(exc).__name__)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(status_code=status, content=body, headers=headers)


class _RequestMetrics:
    """Request latency by route, as plain ASGI middleware (Starlette's ``BaseHTTPMiddleware``
    costs a task and a stream per request, a third of a small request's time)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            self.metrics.labelled(
                self.metrics.request_latency, scope["method"],
                getattr(route, "path", "unmatched"), str(status),
            ).observe(time.perf_counter() - started)
