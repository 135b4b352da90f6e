"""``POST /v1/alerts/{source}``: one route for every source."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from warden.correlate.fold import Folded
from warden.errors import OverloadedError, PayloadTooLarge, UnknownSourceError, WardenError
from warden.ingest.accept import Delivery, parse
from warden.ingest.sources import ADAPTERS
from warden.web._media_type import require_json
from warden.web._responses import error_responses
from warden.web.deps import WardenDep

if TYPE_CHECKING:
    from warden.app import Warden

router = APIRouter(tags=["ingest"])

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
        "description": "The source's own payload (Alertmanager webhook v4, Grafana webhook, "
        "PagerDuty Events v2, Selzee, or generic JSON).",
    },
    "responses": {
        "202": {"description": "Stored; the ids of every alert and its incident."},
        "400": {"description": "Malformed JSON."},
        "401": {"description": "Missing or wrong credentials."},
        "404": {"description": "Unknown source."},
        "413": {"description": "Body over WARDEN_MAX_BODY_BYTES."},
        "422": {"description": "The payload has the wrong shape."},
        "503": {"description": "Overloaded; nothing stored. Retry after Retry-After seconds."},
    },
}


# Sources with an endpoint of their own, which checks what the generic route cannot (Slack's
# request signature and its channel filter): refused here, so it cannot be bypassed.
_OWN_ENDPOINTS = {"slack": "/v1/slack/events"}


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/v1/alerts/{source}", status_code=202, openapi_extra=_BODY_DOC,
             responses=error_responses(400, 401, 404, 413, 422, 503))
async def ingest_alerts(source: str, request: Request, warden: WardenDep) -> Response:
    """Store every alert of the payload before answering; 202 names what was stored."""
    try:
        if source in _OWN_ENDPOINTS:
            raise UnknownSourceError(
                f"{source} delivers to {_OWN_ENDPOINTS[source]}, not to this route")
        body = await read_limited(request, warden.settings.max_body_bytes)
    except WardenError as exc:
        warden.metrics.labelled(warden.metrics.alerts_received, _label(source),
                                type(exc).__name__).inc()
        raise
    folded = await store_delivery(warden, Delivery(
        source=source, body=body, headers=dict(request.headers),
        content_type=request.headers.get("content-type", "")))
    # The bytes JSONResponse would render, serialised by orjson (about 2 µs, not 6).
    return Response(status_code=202, media_type="application/json", content=orjson.dumps({
        "accepted": len(folded),
        "duplicate": all(item.duplicate for item in folded),
        "alerts": [
            {"alert_id": f.alert_id, "incident_id": f.incident_id, "duplicate": f.duplicate}
            for f in folded
        ],
    }))


class DirectIngest:
    """ASGI middleware that hands ``POST /v1/alerts/{source}`` straight to ``ingest_alerts``.

    Ingest is the one route under load, and FastAPI's path to an endpoint (its exception
    middleware, matching against every router, two exit stacks per request, dependency
    solving) cost the event loop more than parsing and storing the alert: about 45% of its
    samples under wrk, against 36% for the endpoint itself. The route needs
    nothing solved: the source comes from the path, the body is read raw, and the only
    dependency, the app-wide ``require_json``, is called here. The route stays registered
    (``/openapi.json`` documents it from there) and matches as FastAPI would match it;
    Warden's errors get the answer ``error_handler`` gives them, anything else propagates
    to the server-error middleware as before.
    """

    def __init__(self, app: ASGIApp, warden: Warden,
                 error_handler: Callable[[WardenError], Response]) -> None:
        self.app = app
        self.warden = warden
        self.error_handler = error_handler
        self.route = next(route for route in router.routes
                          if isinstance(route, APIRoute) and route.endpoint is ingest_alerts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match, child_scope = self.route.matches(scope)
        if match is not Match.FULL:
            await self.app(scope, receive, send)
            return
        scope.update(child_scope)
        request = Request(scope, receive, send)
        try:
            await require_json(request)
            response = await ingest_alerts(scope["path_params"]["source"], request, self.warden)
        except WardenError as exc:
            response = self.error_handler(exc)
        await response(scope, receive, send)


async def store_delivery(warden: Warden, delivery: Delivery) -> list[Folded]:
    """The tail every ingest route shares: authenticate and parse, refuse when the queue is
    full, store through the batching writer (answering after its commit), count, and wake
    the pipeline. Raises ``WardenError`` with nothing stored."""
    source = delivery.source
    try:
        parsed = parse(delivery, settings=warden.settings, now=warden.clock())
        if warden.queue_full():
            raise OverloadedError("the triage queue is full; retry later")
        folded = await warden.ingest_writer.store(parsed)
    except WardenError as exc:
        warden.metrics.labelled(warden.metrics.alerts_received, _label(source),
                                type(exc).__name__).inc()
        raise
    for item in folded:
        outcome = "duplicate" if item.duplicate else "stored"
        warden.metrics.labelled(warden.metrics.alerts_received, source, outcome).inc()
        if item.opened:
            warden.metrics.labelled(warden.metrics.incidents_opened, source).inc()
    if any(item.opened or not item.duplicate for item in folded):
        warden.wake_worker()
    return folded


def _label(source: str) -> str:
    """Bound the metric's label values: unknown sources share one label."""
    return source if source in ADAPTERS else "unknown"
