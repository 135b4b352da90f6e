"""Fields every change sender shares: the link a person clicks, a bounded name, the time."""

from __future__ import annotations

from datetime import UTC, datetime

from warden.errors import PayloadError
from warden.ingest.sources._fields import (
    MAX_NAME_CHARS,
    JSONObject,
    child,
    optional_string,
    timestamp,
)

MAX_SUMMARY_CHARS = 1024
MAX_LINK_CHARS = 2048


def optional_name(parent: JSONObject, key: str, where: str) -> str | None:
    """A short name (version, author): at most 255 characters; empty counts as absent."""
    value = optional_string(parent, key, where, max_chars=MAX_NAME_CHARS)
    if value is None:
        return None
    return value.strip() or None


def optional_link(parent: JSONObject, key: str, where: str) -> str | None:
    """An ``http(s)://`` URL: the console renders it as a link, so no ``javascript:``."""
    value = optional_string(parent, key, where, max_chars=MAX_LINK_CHARS)
    if not value:
        return None
    if not value.lower().startswith(("http://", "https://")):
        raise PayloadError(f"{key} must be an http:// or https:// URL", child(where, key))
    return value


def optional_time(parent: JSONObject, key: str, where: str, *, default: datetime) -> datetime:
    """An ISO 8601 time (UTC when it has no offset), else ``default``."""
    value = parent.get(key)
    if value is None:
        return default.astimezone(UTC)
    return timestamp(value, child(where, key), key)
