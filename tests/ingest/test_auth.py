"""Source authentication: bearer, basic and HMAC (Grafana 12's scheme), per source."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from warden.config import Settings
from warden.errors import AuthError
from warden.ingest import auth

NOW = 1_795_714_811.0
BODY = b'{"service":"checkout","title":"p99 latency 3s"}'
SECRET = "gr4fana-hmac-secret"


def settings(**values: str) -> Settings:
    """Settings as the environment would give them (``SOURCE:VALUE`` pairs)."""
    return Settings(**values)  # type: ignore[arg-type]


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


def grafana_signature(body: bytes, timestamp: str | None, secret: str = SECRET) -> str:
    """What Grafana's HMACRoundTripper puts in the signature header."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    if timestamp is not None:
        mac.update(timestamp.encode() + b":")
    mac.update(body)
    return mac.hexdigest()


def refuse(source: str, headers: dict[str, str], config: Settings, *,
           body: bytes = BODY, now: float = NOW) -> str:
    with pytest.raises(AuthError) as caught:
        auth.check(source, headers=headers, body=body, settings=config, now=now)
    return str(caught.value)


def accept(source: str, headers: dict[str, str], config: Settings, *,
           body: bytes = BODY, now: float = NOW) -> None:
    auth.check(source, headers=headers, body=body, settings=config, now=now)


def test_with_no_credentials_anywhere_every_source_is_open() -> None:
    accept("alertmanager", {}, settings())


def test_a_source_without_credentials_is_refused_once_another_has_some() -> None:
    for config in (settings(source_tokens="generic:s3cret"),
                   settings(source_basic_auth="generic:u:p"),
                   settings(source_hmac_secrets="grafana:" + SECRET)):
        assert "WARDEN_OPEN_SOURCES" in refuse("alertmanager", {}, config)
        refuse("alertmanager", {"authorization": "Bearer anything"}, config)


def test_open_sources_names_the_sources_accepted_unsigned() -> None:
    config = settings(source_tokens="generic:s3cret", open_sources="alertmanager, selzee")
    accept("alertmanager", {}, config)
    accept("selzee", {}, config)
    refuse("pagerduty", {}, config)
    refuse("generic", {}, config)  # its own credentials still apply


# --- bearer -------------------------------------------------------------------------

TOKENS = settings(source_tokens="generic:s3cret-token,selzee:other")


@pytest.mark.parametrize("headers", [
    {"authorization": "Bearer s3cret-token"},
    {"Authorization": "Bearer s3cret-token"},
    {"AUTHORIZATION": "bearer  s3cret-token "},
])
def test_bearer_token_accepted(headers: dict[str, str]) -> None:
    accept("generic", headers, TOKENS)


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "missing"),
    ({"authorization": ""}, "missing"),
    ({"authorization": "Bearer wrong"}, "wrong"),
    ({"authorization": "Bearer other"}, "wrong"),
    ({"authorization": "Bearer s3cret-token-and-more"}, "wrong"),
    ({"authorization": "Bearer"}, "wrong"),
    ({"authorization": "Token s3cret-token"}, "scheme"),
    ({"authorization": basic(b"generic:s3cret-token")}, "scheme"),
    ({"authorization": "Bearer s3cret-t\u00f6ken"}, "wrong"),
])
def test_bearer_token_refused(headers: dict[str, str], message: str) -> None:
    text = refuse("generic", headers, TOKENS)
    assert message in text
    assert "s3cret" not in text and "other" not in text


# --- basic --------------------------------------------------------------------------

BASIC = settings(source_basic_auth="alertmanager:am-user:pa:ss word")


def test_basic_pairs_split_at_the_first_colon() -> None:
    assert BASIC.source_basic_auth["alertmanager"].get_secret_value() == "am-user:pa:ss word"


def test_basic_credentials_as_alertmanager_sends_them() -> None:
    accept("alertmanager", {"Authorization": basic(b"am-user:pa:ss word")}, BASIC)


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "missing"),
    ({"authorization": basic(b"am-user:wrong")}, "wrong"),
    ({"authorization": basic(b"other:pa:ss word")}, "wrong"),
    ({"authorization": basic(b"am-user:pa:ss word ")}, "wrong"),
    ({"authorization": "Basic not*base64"}, "base64"),
    ({"authorization": "Basic \u00e9\u00e9"}, "base64"),
    ({"authorization": "Bearer am-user:pa:ss word"}, "scheme"),
])
def test_basic_credentials_refused(headers: dict[str, str], message: str) -> None:
    text = refuse("alertmanager", headers, BASIC)
    assert message in text
    assert "pa:ss" not in text


def test_token_or_basic_when_both_are_configured() -> None:
    config = settings(source_tokens="grafana:tok", source_basic_auth="grafana:u:p")
    accept("grafana", {"authorization": "Bearer tok"}, config)
    accept("grafana", {"authorization": basic(b"u:p")}, config)
    assert "Bearer token or Basic credentials" in refuse("grafana", {}, config)


# --- HMAC ---------------------------------------------------------------------------

HMAC = settings(source_hmac_secrets=f"grafana:{SECRET}",
                hmac_signature_header="X-Grafana-Alerting-Signature",
                hmac_timestamp_header="X-Grafana-Alerting-Timestamp")
STAMP = str(int(NOW))


def signed(timestamp: str | None = STAMP, *, body: bytes = BODY,
           signature: str | None = None) -> dict[str, str]:
    headers = {"X-Grafana-Alerting-Signature":
               signature if signature is not None else grafana_signature(body, timestamp)}
    if timestamp is not None:
        headers["X-Grafana-Alerting-Timestamp"] = timestamp
    return headers


@pytest.mark.parametrize("headers", [
    signed(),
    signed(None),
    {k.lower(): v for k, v in signed().items()},
    signed(signature="sha256=" + grafana_signature(BODY, STAMP)),
    signed(signature=grafana_signature(BODY, STAMP).upper()),
])
def test_hmac_signature_accepted(headers: dict[str, str]) -> None:
    accept("grafana", headers, HMAC)


@pytest.mark.parametrize("age_s", [-300, -1, 0, 120, 300])
def test_hmac_timestamp_within_five_minutes(age_s: int) -> None:
    stamp = str(int(NOW) - age_s)
    accept("grafana", signed(stamp), HMAC)


@pytest.mark.parametrize("age_s", [301, 3600, -301, -86400])
def test_hmac_stale_or_future_timestamp_refused(age_s: int) -> None:
    stamp = str(int(NOW) - age_s)
    assert "5 minutes" in refuse("grafana", signed(stamp), HMAC)


@pytest.mark.parametrize(("headers", "body", "message"), [
    ({}, BODY, "missing"),
    ({"X-Grafana-Alerting-Timestamp": STAMP}, BODY, "missing"),
    (signed(signature=""), BODY, "missing"),
    (signed(), BODY + b" ", "does not match"),
    (signed(signature=grafana_signature(BODY, STAMP, secret="wrong")), BODY,
     "does not match"),
    # Signed over the body alone, but sent with a timestamp: the timestamp is unsigned.
    (signed(signature=grafana_signature(BODY, None)), BODY, "does not match"),
    # Signed with a timestamp that was then stripped.
    ({"X-Grafana-Alerting-Signature": grafana_signature(BODY, STAMP)}, BODY,
     "does not match"),
    (signed("1795714811.5"), BODY, "Unix seconds"),
    (signed("-12"), BODY, "Unix seconds"),
    (signed("1" * 40), BODY, "Unix seconds"),
    (signed(signature="sha256=z\u00e9"), BODY, "does not match"),
])
def test_hmac_refused(headers: dict[str, str], body: bytes, message: str) -> None:
    text = refuse("grafana", headers, HMAC, body=body)
    assert message in text
    assert SECRET not in text


def test_hmac_is_required_on_top_of_a_bearer_token() -> None:
    config = settings(source_tokens="grafana:tok", source_hmac_secrets=f"grafana:{SECRET}",
                      hmac_timestamp_header="X-Grafana-Alerting-Timestamp")
    token = {"authorization": "Bearer tok"}
    accept("grafana", {**token, **signed()}, config)
    assert "signature" in refuse("grafana", token, config)
    assert "missing" in refuse("grafana", signed(), config)


def test_default_header_names_come_from_settings() -> None:
    config = settings(source_hmac_secrets=f"grafana:{SECRET}")
    headers = {config.hmac_signature_header: grafana_signature(BODY, STAMP),
               config.hmac_timestamp_header: STAMP}
    accept("grafana", headers, config)
