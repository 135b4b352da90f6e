"""PagerDuty's Events API v2 body (what ``POST /v2/enqueue`` takes), one event per body.

- ``routing_key`` (required) and ``dedup_key`` together name the alert: the incident key
  is ``pagerduty:{first 12 hex of sha256(routing_key)}:{dedup_key}`` (the routing key is
  an integration credential, so only its hash is shown) and ``dedup_key`` is the
  fingerprint.
- ``event_action``: ``trigger`` fires; ``resolve`` resolves; ``acknowledge`` means a person
  at PagerDuty took it, which ends nothing here: it is stored as a firing alert that
  joins the open incident (and opens one if none is open), and ``raw`` says it was an
  acknowledgement.
- A trigger needs ``payload.summary``, ``payload.source`` and ``payload.severity`` (one
  of critical, error, warning, info, refused otherwise as PagerDuty refuses it);
  acknowledge and resolve need a ``dedup_key`` and nothing in ``payload``.
- A trigger without ``dedup_key``: PagerDuty makes up a UUID, so every such trigger is a
  new alert. Warden uses a hash of the whole body instead, so a retried delivery folds
  into the alert it repeats while a trigger with any other content is a new alert; the
  sender cannot resolve it either way, having no key.
- service: ``payload.component``, else ``payload.source``, else ``unknown`` (a bare
  acknowledge or resolve); title ``payload.summary``; description the
  ``custom_details`` (JSON text unless it is a string); labels the payload's
  ``source``, ``component``, ``group``, ``class`` and ``severity``; ``raw`` the whole
  body, ``custom_details``, ``images`` and ``links`` included.
- starts_at: ``payload.timestamp`` (ISO 8601) when given, else the time received. A
  delivery is the same delivery when routing key, dedup_key, action and that timestamp
  agree; without a timestamp, every delivery is new (a repeat counts, never hides).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from warden.domain import Alert, AlertStatus
from warden.errors import PayloadError
from warden.ingest._fingerprint import digest, incident_key
from warden.ingest.sources._fields import (
    MAX_NAME_CHARS,
    UNKNOWN_SERVICE,
    JSONObject,
    as_object,
    check_text,
    child,
    optional_object,
    optional_string,
    required_string,
    service_name,
    severity_from_label,
    timestamp,
)

SOURCE = "pagerduty"

_ACTIONS = {
    "trigger": AlertStatus.FIRING,
    "acknowledge": AlertStatus.FIRING,
    "resolve": AlertStatus.RESOLVED,
}
_SEVERITY_WORDS = ("critical", "error", "warning", "info")


class PagerDutyAdapter:
    """Parses one PagerDuty Events API v2 event into one ``Alert``."""

    def parse(self, body: object, *, received_at: datetime) -> list[Alert]:
        top = as_object(body, "$")
        routing_key = required_string(top, "routing_key", "$")
        action = required_string(top, "event_action", "$")
        if action not in _ACTIONS:
            raise PayloadError(
                f"event_action must be one of {', '.join(_ACTIONS)}, got {action[:32]!r}",
                "$.event_action",
            )
        trigger = action == "trigger"
        dedup = optional_string(top, "dedup_key", "$", max_chars=MAX_NAME_CHARS) or None
        if dedup is None and not trigger:
            raise PayloadError(f"dedup_key is required to {action}", "$.dedup_key")
        payload = optional_object(top, "payload", "$")
        if payload is None and trigger:
            raise PayloadError("payload is required for a trigger", "$.payload")
        fields = _payload_fields(payload or {}, required=trigger)

        severity_word = fields.get("severity")
        service = fields.get("component") or fields.get("source") or UNKNOWN_SERVICE
        fingerprint = dedup or digest(top)
        event_time = (payload or {}).get("timestamp")
        if event_time is not None:
            starts_at = timestamp(event_time, "$.payload.timestamp", "timestamp")
            delivery = digest(SOURCE, routing_key, fingerprint, action, starts_at)
        else:
            starts_at = received_at.astimezone(UTC)
            delivery = digest(SOURCE, routing_key, fingerprint, action, starts_at, top)
        return [Alert(
            source=SOURCE,
            service=service,
            title=fields.get("summary") or f"PagerDuty {action} of {fingerprint}",
            description=_details((payload or {}).get("custom_details")),
            severity=severity_from_label(severity_word),
            labels={name: value for name, value in fields.items()
                    if name != "summary" and value},
            fingerprint=fingerprint,
            incident_key=incident_key(SOURCE, f"{digest(routing_key)[:12]}:{fingerprint}"),
            dedup_key=delivery,
            status=_ACTIONS[action],
            starts_at=starts_at,
            raw=top,
        )]


def _payload_fields(payload: JSONObject, *, required: bool) -> dict[str, str]:
    """The payload's string fields; summary, source and severity when ``required``."""
    where = "$.payload"
    fields: dict[str, str] = {}
    for name in ("summary", "source", "severity"):
        value = (required_string(payload, name, where) if required
                 else optional_string(payload, name, where))
        if value is not None:
            fields[name] = value
    for name in ("component", "group", "class"):
        value = optional_string(payload, name, where)
        if value is not None:
            fields[name] = value
    severity = fields.get("severity")
    if severity is not None and severity.strip().lower() not in _SEVERITY_WORDS:
        raise PayloadError(
            f"severity must be one of {', '.join(_SEVERITY_WORDS)}, got {severity[:32]!r}",
            child(where, "severity"),
        )
    named = fields.get("component") or fields.get("source")
    if named:
        service_name(named, child(where, "component" if fields.get("component") else "source"))
    return fields


def _details(details: object) -> str:
    """``custom_details`` as text for people and for triage."""
    if details is None:
        return ""
    where = "$.payload.custom_details"
    if isinstance(details, str):
        return check_text(details, where, "custom_details")
    try:
        text = json.dumps(details, ensure_ascii=False, sort_keys=True)
    except RecursionError:
        raise PayloadError("custom_details is nested too deeply", where) from None
    return check_text(text, where, "custom_details")
