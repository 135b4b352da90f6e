"""Selzee, the site-health checker of the seed: one error report per body.

- ``service_id`` (required): a string, or an integer id kept as its decimal text.
- The message is the first non-empty of ``message``, ``error``, ``error_message``,
  ``description`` (each a string when it is the one read). The title is its first line,
  cut to 200 characters; the description the whole message.
- ``timestamp`` (optional): ISO 8601 or Unix seconds; absent, the time received.
- ``severity`` (optional): mapped as a label would be; unknown words give none.
- Every field, these and any other, stays in ``raw`` (the whole body).

Selzee reports the health of a site: while one service is failing, every error it
reports, whatever the wording, is one fault. So the incident key is the service
(``selzee:{service_id}``) and a flood of differently worded errors costs one triage; the
fingerprint (service and title) still tells the errors apart. Selzee sends no resolve:
its incidents are closed by a person. A report with a timestamp is the same delivery as
another with the same service, message and timestamp; without one, every report counts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from warden.domain import Alert, AlertStatus
from warden.errors import PayloadError
from warden.ingest._fingerprint import digest, incident_key
from warden.ingest.sources._fields import (
    JSONObject,
    as_object,
    json_type,
    optional_string,
    required_string,
    service_name,
    severity_from_label,
    timestamp,
)

SOURCE = "selzee"
MESSAGE_FIELDS = ("message", "error", "error_message", "description")
MAX_TITLE_CHARS = 200


class SelzeeAdapter:
    """Parses one Selzee report into one firing ``Alert``."""

    def parse(self, body: object, *, received_at: datetime) -> list[Alert]:
        top = as_object(body, "$")
        service = service_name(_service_id(top), "$.service_id")
        message = _message(top)
        severity = severity_from_label(optional_string(top, "severity", "$"))
        title = _title(message) if message else f"Selzee alert for {service}"
        fingerprint = digest(SOURCE, service, title)
        sent_at = top.get("timestamp")
        if sent_at is not None:
            starts_at = timestamp(sent_at, "$.timestamp", "timestamp", epoch=True)
            delivery = digest(SOURCE, fingerprint, message, starts_at)
        else:
            starts_at = received_at.astimezone(UTC)
            delivery = digest(SOURCE, fingerprint, message, starts_at, top)
        return [Alert(
            source=SOURCE,
            service=service,
            title=title,
            description=message or "",
            severity=severity,
            labels={},
            fingerprint=fingerprint,
            incident_key=incident_key(SOURCE, service),
            dedup_key=delivery,
            status=AlertStatus.FIRING,
            starts_at=starts_at,
            raw=top,
        )]


def _service_id(top: JSONObject) -> str:
    value = top.get("service_id")
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value < 2**63:
            raise PayloadError("service_id is out of the 64-bit integer range", "$.service_id")
        return str(value)
    if value is None or isinstance(value, str):
        return required_string(top, "service_id", "$")
    raise PayloadError(f"service_id must be a string or an integer, got {json_type(value)}",
                       "$.service_id")


def _message(top: JSONObject) -> str | None:
    for name in MESSAGE_FIELDS:
        value = optional_string(top, name, "$")
        if value and value.strip():
            return value
    return None


def _title(message: str) -> str:
    line = next(line.strip() for line in message.splitlines() if line.strip())
    return line if len(line) <= MAX_TITLE_CHARS else line[: MAX_TITLE_CHARS - 1] + "…"
