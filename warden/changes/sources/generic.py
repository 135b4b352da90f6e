"""Generic JSON, for CI/CD pipelines and scripts: one change per body.

``{"service", "version"?, "kind"?, "summary"?, "at"?, "author"?, "link"?, "id"?}``:

- ``service``: required, at most 255 characters, stored as sent.
- ``kind``: ``deploy`` (the default), ``config``, ``flag``, ``scale`` or ``other``.
- ``at``: ISO 8601, UTC without an offset; the time received when absent.
- ``link``: an http(s) URL. ``summary``: at most 1024 characters.
- ``id``: the sender's idempotency key; a body without one is identified by its hash,
  so a redelivered body is the same change (send ``id`` or ``at`` to tell two
  identical deploys apart).

Any other field is refused, so a misspelt ``verison`` is an error, not a deploy
without a version.
"""

from __future__ import annotations

from datetime import datetime

from warden.changes._change import Change, ChangeKind
from warden.changes.sources._fields import (
    MAX_SUMMARY_CHARS,
    optional_link,
    optional_name,
    optional_time,
)
from warden.errors import PayloadError
from warden.ingest._fingerprint import digest
from warden.ingest.accept import Delivery, decode_json
from warden.ingest.sources._fields import (
    MAX_NAME_CHARS,
    as_object,
    child,
    optional_string,
    required_string,
    service_name,
)

SOURCE = "generic"
_FIELDS = ("service", "version", "kind", "summary", "at", "author", "link", "id")
KINDS = ", ".join(ChangeKind)


def change_kind(value: str | None, where: str) -> ChangeKind:
    """The kind a sender named (any case); ``deploy`` when it named none."""
    if value is None:
        return ChangeKind.DEPLOY
    try:
        return ChangeKind(value.strip().lower())
    except ValueError:
        raise PayloadError(f"kind must be one of {KINDS}, got {value[:32]!r}", where) from None


class GenericChangeAdapter:
    """Parses one generic JSON change."""

    def parse(self, delivery: Delivery, *, received_at: datetime) -> Change:
        top = as_object(decode_json(delivery.body), "$")
        for name in top:
            if name not in _FIELDS:
                raise PayloadError(
                    f"unknown field {name[:64]!r}; a change has {', '.join(_FIELDS)}",
                    child("$", name),
                )
        sender_id = optional_string(top, "id", "$", max_chars=MAX_NAME_CHARS)
        return Change(
            source=SOURCE,
            sender_key=digest(SOURCE, "id", sender_id) if sender_id else digest(SOURCE, top),
            service=service_name(required_string(top, "service", "$"), "$.service"),
            kind=change_kind(optional_string(top, "kind", "$"), "$.kind"),
            at=optional_time(top, "at", "$", default=received_at),
            version=optional_name(top, "version", "$"),
            summary=optional_string(top, "summary", "$", max_chars=MAX_SUMMARY_CHARS) or "",
            author=optional_name(top, "author", "$"),
            link=optional_link(top, "link", "$"),
        )
