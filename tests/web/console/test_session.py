"""The session signer: what a forged, altered or old cookie gets."""

from __future__ import annotations

import pytest

from warden.web.console._session import SessionSigner

NOW = 1_800_000_000.0


@pytest.fixture
def signer() -> SessionSigner:
    return SessionSigner(b"k" * 32, ttl_s=3600)


def test_a_cookie_reads_back_as_its_user_until_it_expires(signer: SessionSigner) -> None:
    value = signer.issue("alice", api_token="tok", now=NOW)
    session = signer.read(value, now=NOW + 3599)
    assert session is not None and session.user == "alice"
    assert session.token_tag == signer.token_tag("tok")
    assert signer.read(value, now=NOW + 3600) is None


def test_the_cookie_does_not_contain_the_token(signer: SessionSigner) -> None:
    import base64

    value = signer.issue("alice", api_token="very-secret-token", now=NOW)
    payload = value.split(".")[0]
    assert b"very-secret-token" not in base64.urlsafe_b64decode(payload + "==")


@pytest.mark.parametrize("mangle", [
    lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # signature altered
    lambda v: "x" + v,  # payload altered
    lambda v: v.split(".")[0],  # unsigned
    lambda v: "",
    lambda v: "....",
    lambda v: "not base64!." + v.split(".")[1],
])
def test_altered_cookies_are_refused(signer: SessionSigner, mangle: object) -> None:
    value = signer.issue("alice", api_token="tok", now=NOW)
    assert signer.read(mangle(value), now=NOW) is None  # type: ignore[operator]


def test_another_secret_refuses_the_cookie(signer: SessionSigner) -> None:
    value = signer.issue("alice", api_token="tok", now=NOW)
    assert SessionSigner(b"j" * 32).read(value, now=NOW) is None


def test_csrf_tokens_are_per_session(signer: SessionSigner) -> None:
    one = signer.read(signer.issue("alice", api_token="tok", now=NOW), now=NOW)
    two = signer.read(signer.issue("alice", api_token="tok", now=NOW), now=NOW)
    assert one is not None and two is not None
    assert signer.csrf_ok(one, signer.csrf_token(one))
    assert not signer.csrf_ok(one, signer.csrf_token(two))
    assert not signer.csrf_ok(one, "")
