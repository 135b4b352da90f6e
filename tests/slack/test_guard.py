"""The signature and replay check, one row per way a request can be refused."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.fakes.slack_server import signed_headers
from warden.web._slack_guard import SlackGuard

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_795_714_811
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"


def guard(secret: str | None = SECRET) -> SlackGuard:
    return SlackGuard(SecretStr(secret) if secret is not None else None, now=lambda: NOW)


def test_a_fresh_signed_request_passes_once() -> None:
    checker = guard()
    headers = signed_headers(SECRET, BODY, timestamp=NOW - 10)
    assert checker.check(headers, BODY) is None
    assert "already received" in str(checker.check(headers, BODY))


def test_header_names_are_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in signed_headers(SECRET, BODY, timestamp=NOW).items()}
    assert guard().check(headers, BODY) is None


@pytest.mark.parametrize("headers, body, why", [
    (signed_headers("other-secret", BODY, timestamp=NOW), BODY, "does not match"),
    (signed_headers(SECRET, BODY, timestamp=NOW), BODY + b"x", "does not match"),
    (signed_headers(SECRET, BODY, timestamp=NOW - 301), BODY, "more than 5 minutes old"),
    (signed_headers(SECRET, BODY, timestamp=NOW + 301), BODY, "from the future"),
    ({"X-Slack-Request-Timestamp": str(NOW)}, BODY, "not signed"),
    ({"X-Slack-Signature": "v0=00"}, BODY, "not signed"),
    ({"X-Slack-Request-Timestamp": "12.5", "X-Slack-Signature": "v0=00"}, BODY,
     "not Unix seconds"),
    ({**signed_headers(SECRET, BODY, timestamp=NOW), "X-Slack-Signature": "v0=" + "0" * 64},
     BODY, "does not match"),
    (signed_headers(SECRET, b"\xff\xfe", timestamp=NOW), b"\xff\xfe", "does not match"),
])
def test_refusals(headers: dict[str, str], body: bytes, why: str) -> None:
    assert why in str(guard().check(headers, body))


def test_without_a_signing_secret_everything_is_refused() -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW)
    assert "not set up" in str(guard(None).check(headers, BODY))


def test_a_replay_after_the_window_is_refused_as_stale() -> None:
    now = [NOW]
    checker = SlackGuard(SecretStr(SECRET), now=lambda: now[0])
    headers = signed_headers(SECRET, BODY, timestamp=NOW)
    assert checker.check(headers, BODY) is None
    now[0] = NOW + 301
    assert "more than 5 minutes old" in str(checker.check(headers, BODY))
    fresh = signed_headers(SECRET, BODY, timestamp=now[0])
    assert checker.check(fresh, BODY) is None  # Slack's own retry carries a new signature
