"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from warden.web.deps import WardenDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers. Touches nothing else, so it stays fast under load."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(warden: WardenDep) -> JSONResponse:
    """503 when the store does not answer; 200 otherwise, naming any degraded part.
    ``model`` is ``unverified`` until a call to the model succeeds, ``degraded`` while every
    model's latest call failed, ``ok``, or ``none`` with the rules provider."""
    body: dict[str, Any] = await run_in_threadpool(warden.readiness)
    return JSONResponse(status_code=200 if body["ready"] else 503, content=body)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(warden: WardenDep) -> Response:
    await run_in_threadpool(warden.refresh_gauges)
    return Response(generate_latest(warden.metrics.registry), media_type=CONTENT_TYPE_LATEST)
