"""Generic JSON, for senders with no format of their own: one alert per body.

- ``service`` and ``title``: required non-empty strings (the service at most 255
  characters).
- ``description``: optional string. ``labels``: optional object of strings.
- ``severity``: optional; critical, high (or error), medium (or warning), low (or info),
  any case. Any other word is refused: the sender chose this field for Warden.
- ``status``: optional ``firing`` (the default) or ``resolved``.
- ``fingerprint``: optional; the alert's identity, else a hash of service and title, so
  labels that vary from one report to the next do not split an incident.
- Other fields are kept in ``raw`` (the whole body).

The incident key hashes service and fingerprint. The body has no time of its own, so
``starts_at`` is the time received and every delivery is a new one: a repeat counts,
and a firing after a resolve is never taken for the firing before it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from warden.domain import Alert, AlertStatus
from warden.errors import PayloadError
from warden.ingest._fingerprint import digest, incident_key
from warden.ingest.sources._fields import (
    MAX_NAME_CHARS,
    SEVERITY_WORDS,
    alert_status,
    as_object,
    optional_string,
    required_string,
    service_name,
    severity_from_label,
    string_map,
)

SOURCE = "generic"


class GenericAdapter:
    """Parses one generic JSON alert into one ``Alert``."""

    def parse(self, body: object, *, received_at: datetime) -> list[Alert]:
        top = as_object(body, "$")
        service = service_name(required_string(top, "service", "$"), "$.service")
        title = required_string(top, "title", "$")
        description = optional_string(top, "description", "$") or ""
        severity_word = optional_string(top, "severity", "$")
        severity = severity_from_label(severity_word)
        if severity_word is not None and severity is None:
            raise PayloadError(
                f"severity must be one of {SEVERITY_WORDS}, got {severity_word[:32]!r}",
                "$.severity",
            )
        labels = string_map(top, "labels", "$")
        status = (AlertStatus.FIRING if top.get("status") is None
                  else alert_status(top, "status", "$"))
        fingerprint = (required_string(top, "fingerprint", "$", max_chars=MAX_NAME_CHARS)
                       if top.get("fingerprint") is not None
                       else digest(SOURCE, service, title))
        received = received_at.astimezone(UTC)
        return [Alert(
            source=SOURCE,
            service=service,
            title=title,
            description=description,
            severity=severity,
            labels=labels,
            fingerprint=fingerprint,
            incident_key=incident_key(SOURCE, digest(service, fingerprint)),
            dedup_key=digest(SOURCE, fingerprint, status, received, top),
            status=status,
            starts_at=received,
            raw=top,
        )]
