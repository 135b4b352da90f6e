"""JSON endpoints take JSON only: ``POST /v1/...`` with a body needs ``application/json``.

Browsers send ``text/plain``, ``application/x-www-form-urlencoded`` and
``multipart/form-data`` cross-site without asking (no CORS preflight), so a web page could
otherwise post an alert or a verdict from a visitor's browser. Requiring the JSON media
type forces the preflight, which Warden never grants. The rule is written once, for every
route under ``/v1/`` (present and future), and documented in ``/openapi.json`` by the same
predicate. Exempt: Slack's endpoints (form-encoded, authenticated by Slack's request
signature); the console's form posts live outside ``/v1/`` and carry a CSRF token.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from warden.errors import UnsupportedMediaType
from warden.web._responses import error_responses

_EXEMPT = frozenset({"/v1/slack/interactions", "/v1/slack/events"})
_CHANGES_STATE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _takes_json(method: str, path: str) -> bool:
    return method in _CHANGES_STATE and path.startswith("/v1/") and path not in _EXEMPT


def _is_json(content_type: str) -> bool:
    # "application/json; charset=utf-8" is JSON; "application/jsonx" and "text/json" are not.
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json"


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length != "0")


async def require_json(request: Request) -> None:
    """Raise ``UnsupportedMediaType`` (415) for a body of another media type sent to a JSON
    endpoint. A request without a body (``POST /v1/policy/reload``) needs no type; ingest
    always does, as an alert is never empty."""
    route = request.scope.get("route")
    path = route.path if isinstance(route, APIRoute) else request.url.path
    if not _takes_json(request.method, path):
        return
    if not _has_body(request) and not path.startswith("/v1/alerts/"):
        return
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        shown = content_type[:80] or "none"
        raise UnsupportedMediaType(
            f"this endpoint takes Content-Type: application/json, not {shown!r}",
            "Content-Type")


def document_json_only(app: FastAPI) -> None:
    """Add the 415 answer to the OpenAPI entry of every operation ``require_json`` guards
    (after the document is built: the app's routes are not all visible before)."""
    build = app.openapi
    answer = {key: value for key, value in error_responses(415)[415].items() if key != "model"}

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = build()
        if fresh:
            for path, operations in schema["paths"].items():
                for method, operation in operations.items():
                    if _takes_json(method.upper(), path):
                        operation["responses"]["415"] = answer
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
