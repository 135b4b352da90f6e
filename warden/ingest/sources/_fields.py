"""Reading typed fields out of a decoded JSON payload, with the JSON path of every refusal.

Each reader takes the parent object and its path and either returns a value of the
promised type or raises ``PayloadError(message, where)`` with ``where`` the path of the
offending value (``$.alerts[2].labels.team``). JSON ``null`` counts as absent for an
optional field. Text that Warden stores (service, title, labels...) must be valid Unicode
without NUL characters, since neither PostgreSQL nor SQLite can store them otherwise.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from warden.domain import AlertStatus, Severity
from warden.errors import PayloadError

# The store's bound on service names and fingerprints.
MAX_NAME_CHARS = 255
# The service of an alert whose payload names none: the policy knows no such service,
# so it gets the policy's default-deny treatment.
UNKNOWN_SERVICE = "unknown"

JSONObject = Mapping[str, object]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "high": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "info": Severity.LOW,
    "low": Severity.LOW,
}
SEVERITY_WORDS = ", ".join(_SEVERITIES)

# Go's zero time.Time, which Alertmanager and Grafana send as endsAt while firing.
_GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def child(where: str, key: str | int) -> str:
    """The path of ``key`` under ``where``: ``$.a``, ``$.a[3]`` or ``$["odd key"]``."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{where}.{key}"
    return f"{where}[{json.dumps(key)}]"


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def as_object(value: object, where: str, *, name: str = "the payload") -> JSONObject:
    if not isinstance(value, dict):
        raise PayloadError(f"{name} must be a JSON object, got {json_type(value)}", where)
    return value


def check_text(value: str, where: str, name: str) -> str:
    """``value`` unchanged, if a database can store it."""
    if "\x00" in value:
        raise PayloadError(f"{name} contains a NUL character", where)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PayloadError(f"{name} is not valid Unicode (a lone surrogate)", where) from exc
    return value


def optional_string(
    parent: JSONObject, key: str, where: str, *, max_chars: int | None = None
) -> str | None:
    """The string at ``key``, or None when absent or null; empty strings are kept."""
    value = parent.get(key)
    if value is None:
        return None
    path = child(where, key)
    if not isinstance(value, str):
        raise PayloadError(f"{key} must be a string, got {json_type(value)}", path)
    if max_chars is not None and len(value) > max_chars:
        raise PayloadError(f"{key} is longer than {max_chars} characters", path)
    return check_text(value, path, key)


def required_string(
    parent: JSONObject, key: str, where: str, *, max_chars: int | None = None
) -> str:
    """The string at ``key``; absent, null, empty or blank is refused."""
    value = optional_string(parent, key, where, max_chars=max_chars)
    if value is None:
        raise PayloadError(f"{key} is required", child(where, key))
    if not value.strip():
        raise PayloadError(f"{key} must not be empty", child(where, key))
    return value


def optional_object(parent: JSONObject, key: str, where: str) -> JSONObject | None:
    value = parent.get(key)
    if value is None:
        return None
    return as_object(value, child(where, key), name=key)


def required_list(parent: JSONObject, key: str, where: str) -> list[object]:
    value = parent.get(key)
    path = child(where, key)
    if value is None:
        raise PayloadError(f"{key} is required", path)
    if not isinstance(value, list):
        raise PayloadError(f"{key} must be an array, got {json_type(value)}", path)
    return value


def string_map(parent: JSONObject, key: str, where: str) -> dict[str, str]:
    """An object of strings (labels, annotations); absent or null gives ``{}``."""
    value = optional_object(parent, key, where)
    if value is None:
        return {}
    path = child(where, key)
    result: dict[str, str] = {}
    for name, item in value.items():
        item_path = child(path, name)
        if not isinstance(item, str):
            raise PayloadError(
                f"{key} values must be strings; {name[:64]!r} is {json_type(item)}", item_path
            )
        check_text(name, item_path, f"a {key} name")
        result[name] = check_text(item, item_path, f"{key} value")
    return result


def service_name(value: str, where: str) -> str:
    """A service name as sent, if the store can hold it."""
    if len(value) > MAX_NAME_CHARS:
        raise PayloadError(f"the service name is longer than {MAX_NAME_CHARS} characters",
                           where)
    return value


def severity_from_label(value: str | None) -> Severity | None:
    """The severity a source's own word means, case-insensitively; None for other words."""
    if value is None:
        return None
    return _SEVERITIES.get(value.strip().lower())


def alert_status(parent: JSONObject, key: str, where: str) -> AlertStatus:
    """``firing`` or ``resolved``, exactly as Alertmanager spells them."""
    value = required_string(parent, key, where)
    try:
        return AlertStatus(value)
    except ValueError:
        raise PayloadError(f"{key} must be 'firing' or 'resolved', got {value!r}",
                           child(where, key)) from None


def timestamp(value: object, where: str, name: str, *, epoch: bool = False) -> datetime:
    """An ISO 8601 string (or, with ``epoch``, Unix seconds) as an aware UTC datetime.

    A time without an offset is taken as UTC.
    """
    if epoch and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            if not math.isfinite(value):
                raise ValueError("not finite")
            return datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError):
            raise PayloadError(f"{name} is not a usable number of Unix seconds", where) from None
    if not isinstance(value, str):
        wanted = "an ISO 8601 string or Unix seconds" if epoch else "an ISO 8601 string"
        raise PayloadError(f"{name} must be {wanted}, got {json_type(value)}", where)
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise PayloadError(f"{name} is not an ISO 8601 time: {value[:64]!r}", where) from None


def optional_end(parent: JSONObject, key: str, where: str) -> datetime | None:
    """``endsAt``: None when absent, null or Go's zero time (still firing)."""
    value = parent.get(key)
    if value is None:
        return None
    ends = timestamp(value, child(where, key), key)
    return None if ends == _GO_ZERO_TIME else ends
