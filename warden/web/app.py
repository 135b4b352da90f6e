"""The FastAPI application: routers, the error mapping and request metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from warden.errors import (
    ApprovalError,
    IngestError,
    OverloadedError,
    PayloadError,
    WardenError,
)
from warden.web import approvals, console, health, incidents, ingest, slack

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
                  description="Incident triage: AI proposes, policy disposes, a human approves.")
    app.state.warden = warden
    for router in (ingest.router, incidents.router, approvals.router, slack.router,
                   health.router):
        app.include_router(router)
    console.install(app)

    @app.exception_handler(WardenError)
    async def _warden_error(request: Request, exc: WardenError) -> JSONResponse:
        return error_response(exc)

    @app.middleware("http")
    async def _timing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        warden.metrics.request_latency.labels(
            method=request.method, route=getattr(route, "path", "unmatched"),
            status=str(response.status_code),
        ).observe(time.perf_counter() - started)
        return response

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
    else:
        status = 500
        log.error("unexpected_warden_error", error=str(exc), kind=type(exc).__name__)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(status_code=status, content=body, headers=headers)
