"""``decode_json``: strict JSON that every view can show again, one row per rule."""

from __future__ import annotations

import pytest

from warden.errors import MalformedJSONError, PayloadError
from warden.ingest.accept import MAX_JSON_DEPTH, decode_json

DEEPEST = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
TOO_DEEP = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)


@pytest.mark.parametrize("body", [
    b"null", b"7", b'"text"', b"[]", b"{}", DEEPEST,
    b'{"a": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}",
    b'"\\ud83d\\ude00 emoji as an escaped pair"', b'"\\u202e\\u0000\\u0001 escaped"',
])
def test_accepted(body: bytes) -> None:
    decode_json(body)


@pytest.mark.parametrize(("body", "error", "where"), [
    (b'"\\udc00"', MalformedJSONError, "$"),
    (b'{"\\ud800": 1}', MalformedJSONError, "$"),
    (b'"\xed\xb0\x80"', MalformedJSONError, "$"),
    (b"NaN", MalformedJSONError, "$"),
    (b"\xef\xbb\xbf{}", MalformedJSONError, "$"),
    (TOO_DEEP, PayloadError, "$" + "[0]" * MAX_JSON_DEPTH),
    (b'{"ok": 1, "x": {"y": ' + b"[" * 31 + b"]" * 31 + b"}}", PayloadError,
     "$.x.y" + "[0]" * 30),
])
def test_refused(body: bytes, error: type[Exception], where: str) -> None:
    with pytest.raises(error) as caught:
        decode_json(body)
    assert getattr(caught.value, "where", "$") == where
