"""``POST /v1/changes/{sender}`` (one route for every change sender) and ``GET /v1/changes``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from warden.changes import Ignored, Recorded, accept_change, auth_source, list_changes
from warden.ingest.accept import Delivery
from warden.web._responses import error_responses
from warden.web.deps import MAX_ROW_ID, ReaderDep, WardenDep
from warden.web.ingest import read_limited
from warden.web.serialize import change_json

router = APIRouter(tags=["changes"])

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
        "description": "The sender's own payload: generic JSON, a PagerDuty change event, "
        "or GitHub's deployment_status webhook.",
    },
    "responses": {
        "202": {"description": "Stored (or a duplicate of a stored change, or ignored)."},
    },
}


async def receive_change(sender: str, request: Request, warden: WardenDep) -> Recorded | Ignored:
    """Read, authenticate, parse and store one change delivery; raises ``WardenError``."""
    body = await read_limited(request, warden.settings.max_body_bytes)
    delivery = Delivery(source=auth_source(sender)[:64], body=body,
                        headers=dict(request.headers),
                        content_type=request.headers.get("content-type", ""))
    return await run_in_threadpool(accept_change, warden.store, sender, delivery,
                                   settings=warden.settings, now=warden.clock())


@router.post("/v1/changes/{sender}", status_code=202, openapi_extra=_BODY_DOC,
             responses=error_responses(400, 401, 404, 413, 422, 503))
async def post_change(sender: str, request: Request, warden: WardenDep) -> JSONResponse:
    """Store the change before answering: ``{"change_id", "duplicate"}``; an event that is
    no change (a GitHub ping, a failed deployment) gets ``{"ignored": why}``."""
    outcome = await receive_change(sender, request, warden)
    if isinstance(outcome, Ignored):
        return JSONResponse(status_code=202, content={
            "change_id": None, "duplicate": False, "ignored": outcome.reason})
    return JSONResponse(status_code=202, content={
        "change_id": outcome.change_id, "duplicate": outcome.duplicate})


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_8601(value: object) -> object:
    """Only ISO 8601 text, as documented: pydantic would read a bare number as a Unix time."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("expected an ISO 8601 date-time such as 2026-12-01T09:00:00Z")
    return value


@router.get("/v1/changes", responses=error_responses(401, 429))
async def get_changes(
    warden: WardenDep,
    _reader: ReaderDep,
    service: Annotated[str | None, Query(max_length=255)] = None,
    since: Annotated[datetime | None, BeforeValidator(_iso_8601),
                     Query(description="ISO 8601; UTC without an offset")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> dict[str, Any]:
    """Changes, newest first: ``{"items": [...], "total": N}``; ``service`` matches any
    case of the name."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)

    def load() -> dict[str, Any]:
        with warden.store.session() as session:
            page = list_changes(session, service=service, since=since, limit=limit,
                                offset=offset)
            return {"items": [change_json(c) for c in page.items], "total": page.total}

    return await run_in_threadpool(load)
