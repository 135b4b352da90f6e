"""Stable hashes for the three identities an ``Alert`` carries.

``fingerprint`` (the alert itself), ``incident_key`` (what it folds into) and ``dedup_key``
(one delivery of it) must come out the same on every replica, every restart and every
Python version, so they are sha256 over a canonical JSON encoding, never ``hash()``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from warden.errors import PayloadError

# A readable incident key longer than this is replaced by its hash: the store's key
# column is bounded, and a key is shown to people, who read short ones.
MAX_READABLE_KEY_CHARS = 255


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot hash a {type(value).__name__}")


# One encoder for every digest: ``json.dumps`` with options builds a new one per call, a
# third of a small digest's cost (three digests an alert).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_encode)


def digest(*parts: object) -> str:
    """The sha256 hex (64 characters) of ``parts``: JSON values and datetimes.

    Parts are encoded as one JSON array with sorted keys and ASCII escapes, so
    ``digest("a:b", "c")`` and ``digest("a", "b:c")`` differ, key order never matters and
    any string (lone surrogates included) hashes. A payload too deeply nested to encode
    raises ``PayloadError``.
    """
    try:
        text = _CANONICAL.encode(parts)
    except RecursionError as exc:
        raise PayloadError("the payload is nested too deeply", "$") from exc
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def incident_key(source: str, readable: str) -> str:
    """``"{source}:{readable}"``, or ``"{source}:sha256:{digest}"`` when that is too long.

    ``readable`` must be unambiguous on its own (one value, or parts of fixed length):
    the key is not re-split.
    """
    key = f"{source}:{readable}"
    if len(key) <= MAX_READABLE_KEY_CHARS:
        return key
    return f"{source}:sha256:{digest(readable)}"
