"""``--since 30d``: how far back the trust ladder's commands and pages look."""

from __future__ import annotations

from datetime import datetime, timedelta

_UNITS = {"d": 86400, "h": 3600, "m": 60}


def since_start(value: str, now: datetime) -> datetime | None:
    """The moment ``value`` (a number and d, h or m: 30d, 12h, 90m) before ``now``; None
    for ``all``. ``ValueError`` saying what is expected otherwise."""
    if value == "all":
        return None
    number, unit = value[:-1], value[-1:]
    if unit not in _UNITS or not number.isascii() or not number.isdigit() or len(number) > 6:
        raise ValueError(f"--since {value!r}: give a number and d, h or m (30d, 12h, 90m), "
                         "or 'all'")
    return now - timedelta(seconds=int(number) * _UNITS[unit])
