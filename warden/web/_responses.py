"""The error answers each route documents in ``/openapi.json``.

Clients and contract testers (schemathesis) read the OpenAPI document: a status code or a
body shape that a route can give but does not list is a broken contract, not a detail.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """What an error answer holds (``web.app.error_response``)."""

    detail: str
    error: str | None = None
    """The kind of error (e.g. ``PayloadError``); absent on a plain 404."""
    where: str | None = None
    """For a payload error, the JSON path at fault (``$.alerts[0].labels``)."""


_WHY = {
    400: "Malformed: not JSON, not UTF-8, or nothing to act on.",
    401: "Missing or unknown credentials.",
    403: "The credentials may not do this.",
    404: "No such incident (or source).",
    409: "Not the current decision, nothing waits for this (or it expired), or the "
         "incident is resolved already; nothing changed.",
    413: "The body is over WARDEN_MAX_BODY_BYTES.",
    415: "The body is not declared as `application/json`; nothing was read or stored.",
    422: "The payload has the wrong shape; `where` says where.",
    429: "Too many wrong credentials from this client; retry after Retry-After seconds.",
    503: "Overloaded; nothing stored. Retry after Retry-After seconds.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that can answer each of ``codes`` with an error.

    Errors are JSON whatever the route's own media type (the Markdown report's 404 too).
    """
    json_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {code: {"model": ErrorBody, "description": _WHY[code], "content": json_body}
            for code in codes}
