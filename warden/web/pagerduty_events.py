"""PagerDuty's own paths, so a sender that speaks Events API v2 only needs its URL changed.

``POST /v2/enqueue`` takes alert events exactly as ``/v1/alerts/pagerduty`` does and
``POST /v2/change/enqueue`` change events as ``/v1/changes/pagerduty``; both answer in
PagerDuty's shapes: 202 ``{"status": "success", "message": "Event processed",
"dedup_key"}``, and for a refused event ``{"status": "invalid event", "message",
"errors": [...]}`` (400 for a bad body, which PagerDuty's senders do not retry; 401 and
413 keep their codes). An overloaded Warden answers 503 with ``Retry-After``, which they
retry.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from warden.changes import Ignored
from warden.errors import AuthError, IngestError, PayloadError
from warden.store import AlertRow
from warden.web.changes import receive_change
from warden.web.deps import WardenDep
from warden.web.ingest import ingest_alerts

router = APIRouter(tags=["pagerduty"])

_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
        "description": "A PagerDuty Events API v2 event.",
    },
    "responses": {
        "202": {"description": "Stored: PagerDuty's success body with the dedup_key."},
        "400": {"description": "Invalid event: PagerDuty's error body."},
        "401": {"description": "Missing or wrong credentials (PagerDuty's error body)."},
        "413": {"description": "Body over WARDEN_MAX_BODY_BYTES (PagerDuty's error body)."},
        "503": {"description": "Overloaded; nothing stored. Retry after Retry-After seconds."},
    },
}


def _accepted(dedup_key: str) -> JSONResponse:
    return JSONResponse(status_code=202, content={
        "status": "success", "message": "Event processed", "dedup_key": dedup_key})


def _refused(exc: IngestError) -> Response:
    """PagerDuty's error body for input Warden refuses."""
    detail = str(exc)
    if isinstance(exc, PayloadError):
        status, detail = 400, f"{exc.where}: {detail}"
    else:
        status = exc.status_code
    kind = "unauthorized" if isinstance(exc, AuthError) else "invalid event"
    message = "Event object is invalid" if status == 400 else detail
    return JSONResponse(status_code=status, content={
        "status": kind, "message": message, "errors": [detail]})


@router.post("/v2/enqueue", status_code=202, openapi_extra=_DOC)
async def enqueue_alert_event(request: Request, warden: WardenDep) -> Response:
    """An alert event (trigger, acknowledge, resolve), stored as ``/v1/alerts/pagerduty``
    stores it; ``dedup_key`` is the one sent, else the one Warden gave the alert."""
    try:
        answer = await ingest_alerts("pagerduty", request, warden)
    except IngestError as exc:  # an overload is Warden's 503, which senders retry
        return _refused(exc)
    alert_id = _first_alert_id(answer)

    def fingerprint() -> str:
        with warden.store.session() as session:
            row = session.get(AlertRow, alert_id)
            return "" if row is None else row.fingerprint

    return _accepted(await run_in_threadpool(fingerprint))


def _first_alert_id(answer: Response) -> int:
    """The first alert the ingest route's answer names (its documented 202 body)."""
    body = json.loads(bytes(answer.body))
    return int(body["alerts"][0]["alert_id"])


@router.post("/v2/change/enqueue", status_code=202, openapi_extra=_DOC)
async def enqueue_change_event(request: Request, warden: WardenDep) -> Response:
    """A change event, stored as ``/v1/changes/pagerduty`` stores it."""
    try:
        outcome = await receive_change("pagerduty", request, warden)
    except IngestError as exc:  # an overload is Warden's 503, which senders retry
        return _refused(exc)
    if isinstance(outcome, Ignored):  # the PagerDuty adapter ignores nothing
        return _accepted("")
    return _accepted(outcome.sender_key)
