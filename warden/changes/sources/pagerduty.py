"""PagerDuty's Change Events API v2 body (what ``POST /v2/change/enqueue`` takes).

``{"routing_key", "payload": {"summary", "timestamp"?, "source"?, "custom_details"?},
"links"?: [{"href", "text"?}]}``:

- ``routing_key`` and ``payload.summary`` (at most 1024 characters) are required.
- service: ``custom_details.service``, else the service the routing key is mapped to
  (``WARDEN_PAGERDUTY_ROUTING_KEYS``), else ``payload.source``; none of them is an error.
- version: ``custom_details.version``; kind: ``custom_details.kind`` (default
  ``deploy``); author: ``custom_details.author``; link: the first of ``links``.
- at: ``payload.timestamp`` (ISO 8601, PagerDuty's ``+0000`` offsets included), else the
  time received.
- A change event has no id of its own: a body is identified by its hash (the routing key
  hashed too), so a retried delivery is stored once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from warden.changes._change import Change
from warden.changes.sources._fields import (
    MAX_SUMMARY_CHARS,
    optional_link,
    optional_name,
    optional_time,
)
from warden.changes.sources.generic import change_kind
from warden.errors import PayloadError
from warden.ingest._fingerprint import digest
from warden.ingest.accept import Delivery, decode_json
from warden.ingest.sources._fields import (
    JSONObject,
    as_object,
    child,
    json_type,
    optional_object,
    optional_string,
    required_string,
    service_name,
)

SOURCE = "pagerduty"


class PagerDutyChangeAdapter:
    """Parses one PagerDuty change event; ``routing_services`` maps routing keys to services."""

    def __init__(self, routing_services: Mapping[str, str]) -> None:
        self._routing_services = routing_services

    def parse(self, delivery: Delivery, *, received_at: datetime) -> Change:
        top = as_object(decode_json(delivery.body), "$")
        routing_key = required_string(top, "routing_key", "$")
        payload = optional_object(top, "payload", "$")
        if payload is None:
            raise PayloadError("payload is required", "$.payload")
        where = "$.payload"
        summary = required_string(payload, "summary", where, max_chars=MAX_SUMMARY_CHARS)
        details = optional_object(payload, "custom_details", where) or {}
        details_at = child(where, "custom_details")
        return Change(
            source=SOURCE,
            sender_key=digest(SOURCE, top),
            service=self._service(payload, details, routing_key),
            kind=change_kind(optional_string(details, "kind", details_at), f"{details_at}.kind"),
            at=optional_time(payload, "timestamp", where, default=received_at),
            version=optional_name(details, "version", details_at),
            summary=summary,
            author=optional_name(details, "author", details_at),
            link=_first_link(top),
        )

    def _service(self, payload: JSONObject, details: JSONObject, routing_key: str) -> str:
        named = optional_string(details, "service", "$.payload.custom_details")
        if named and named.strip():
            return service_name(named, "$.payload.custom_details.service")
        mapped = self._routing_services.get(routing_key)
        if mapped:
            return mapped
        source = optional_string(payload, "source", "$.payload")
        if source and source.strip():
            return service_name(source, "$.payload.source")
        raise PayloadError(
            "no service: set payload.custom_details.service, map the routing key in "
            "WARDEN_PAGERDUTY_ROUTING_KEYS, or send payload.source", "$.payload.source")


def _first_link(top: JSONObject) -> str | None:
    links = top.get("links")
    if links is None:
        return None
    if not isinstance(links, list):
        raise PayloadError(f"links must be an array, got {json_type(links)}", "$.links")
    for index, item in enumerate(links):
        link = optional_link(as_object(item, f"$.links[{index}]", name="a link"), "href",
                             f"$.links[{index}]")
        if link:
            return link
    return None
