"""Secret redaction: what must go, what must stay, and that it is idempotent."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.errors import ConfigError
from warden.redact import compile_patterns, redact
from warden.triage import TriageRequest
from warden.triage.redact import redact_request

# (text with {} where the secret goes, the secret that must disappear, its kind)
_SECRETS = [
    (
        "key {}",
        "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",
        "api_key",
    ),
    ("OPENAI_API_KEY={}", "sk-proj-Abc123def456ghi789jkl", "api_key"),
    ("{} in config", "sk-ant-api03-abcdefghijklmnopqrstu", "api_key"),
    ("bot {}", "xoxb-1234567890-0987654321-AbCdEfGhIj", "api_key"),
    ("user token {}", "xoxp-111-222-333-abcdef", "api_key"),
    ("app {}", "xapp-1-A0123-456-abcdef0123", "api_key"),
    ("git {} pushed", "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "api_key"),
    ("oauth {}", "gho_B1B1B1B1B1B1B1B1B1B1B1B1B1B1B1B1B1B1", "api_key"),
    ("pat {}", "github_pat_11ABCDEFG0123456789_abcdefghij", "api_key"),
    ("aws {} used", "AKIAIOSFODNN7EXAMPLE", "api_key"),
    ("gitlab {}", "glpat-xxxxXXXXxxxxXXXXxxxx", "api_key"),
    ("maps {}", "AIzaSyA-1234567890abcdefghijklmnopqrstu", "api_key"),
    ("stripe {}", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "api_key"),
    ("curl -H 'Authorization: Bearer {}'", "abc.def-ghi_jkl", "authorization"),
    ("Authorization: Basic {}", "dXNlcjpwYXNzd29yZA==", "authorization"),
    ("sent bearer {} to upstream", "Zm9vYmFyYmF6MTIz", "bearer"),
    ("dsn postgres://alice:{}@db.example.com:5432/app", "s3cr3t", "url_password"),
    ("amqp://guest:{}@rabbit/vhost", "p@ss:w0rd", "url_password"),
    ("redis://:{}@cache:6379/0", "hunter2", "url_password"),
    ("password={} on login", "hunter2", "secret_value"),
    ("DB_PASSWORD: '{}'", "correct horse", "secret_value"),
    ('{"api_key": "{}", "user": "bob"}', "abc123xyz", "secret_value"),
    ("X-Api-Key: {}", "9f8e7d6c", "secret_value"),
    ("client_secret={}&grant_type=x", "shh", "secret_value"),
    ("https://api.example.com/v1?token={}&page=2", "qwerty123", "secret_value"),
    ("auth={} passwd=letmein2 apikey=k1 secret=s1", "letmein", "secret_value"),
    ("paged {} about it", "ops-oncall@example.com", "email"),
    ("commit {}", "0123456789abcdef0123456789abcdef01234567", "hex"),
    ("blob {} end", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr", "base64"),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.{}.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        "jwt",
    ),
]
MUST_REDACT = [(text.replace("{}", secret, 1), secret, kind) for text, secret, kind in _SECRETS]

MUST_KEEP = [
    "p99 latency 3s on checkout-web",
    "High CPU on 10.0.3.4:9100 (node-exporter), 93% for 5m",
    "connect to db-1.prod.example.internal:5432 failed: connection refused",
    "deployed v1.2.3 (build 2024.05.01-rc1) to payment-gateway",
    "IPv6 fe80::1ff:fe23:4567:890a unreachable",
    "HaproxyHighHttp5xxErrorRateBackend fired for backend api",
    "Prometheus target missing: http://node-exporter:9100/metrics",
    "WAL at /var/lib/prometheus/data/wal/00000123 is corrupted",
    "pod checkout-web-7d9f8b6c5d-x2x9z restarted 5 times",
    "trace id 123e4567-e89b-12d3-a456-426614174000",
    "disk usage 91% on /dev/nvme0n1p1",
    "Vault has 12 tokens with infinite TTL; max_tokens=5 author: Jane",
    "secret_name: db-creds rotated, token_count=3",
    "Kafka consumer lag 120000 messages at 2024-05-01T10:00:00Z",
    'rate(http_requests_total{status=~"5.."}[5m]) > 0.05',
    "1714557600123456789 nanoseconds since epoch",
]


@pytest.mark.parametrize(("text", "secret", "kind"), MUST_REDACT)
def test_secrets_are_redacted(text: str, secret: str, kind: str) -> None:
    result = redact(text)
    assert secret not in result.text
    assert f"[REDACTED:{kind}]" in result.text
    assert result.counts.get(kind, 0) >= 1
    # Counts name kinds, never values.
    assert secret not in repr(result.counts)


@pytest.mark.parametrize("text", MUST_KEEP)
def test_ordinary_alert_text_is_kept(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert dict(result.counts) == {}


def test_url_keeps_the_user_and_host() -> None:
    result = redact("cannot connect to postgres://alice:s3cr3t@db.example.com:5432/app")
    assert result.text == (
        "cannot connect to postgres://alice:[REDACTED:url_password]@db.example.com:5432/app"
    )


def test_key_value_keeps_the_key_and_quotes() -> None:
    result = redact('{"password": "hunter2", "user": "bob"}')
    assert result.text == '{"password": "[REDACTED:secret_value]", "user": "bob"}'


def test_private_key_block_is_removed_whole() -> None:
    text = (
        "config dump:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc+/def==\n"
        "-----END RSA PRIVATE KEY-----\nthen the service crashed"
    )
    result = redact(text)
    assert result.text == "config dump:\n[REDACTED:private_key]\nthen the service crashed"
    assert result.counts == {"private_key": 1}


def test_truncated_private_key_is_removed_to_the_end() -> None:
    text = "oops -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU"
    result = redact(text)
    assert result.text == "oops [REDACTED:private_key]"


def test_counts_add_up_per_kind() -> None:
    result = redact("a@example.com b@example.org password=x token=y")
    assert result.counts == {"email": 2, "secret_value": 2}


def test_extra_patterns_run_and_count_as_custom() -> None:
    patterns = compile_patterns([r"ACME-\d{6}", r"x*"])
    result = redact("ticket ACME-123456 for payment-gateway", patterns)
    assert result.text == "ticket [REDACTED:custom] for payment-gateway"
    assert result.counts == {"custom": 1}


def test_invalid_extra_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid regex"):
        compile_patterns(["(unclosed"])


def test_redact_request_covers_title_description_and_label_values() -> None:
    request = TriageRequest(
        service="checkout-web",
        title="login failed for ops@example.com",
        description="DSN postgres://app:pw123@db/app timed out",
        labels={"alertname": "DbDown", "dsn": "mysql://root:toor@db:3306"},
        severity=None,
        allowed_actions=("clear_cache",),
        categories=("unknown",),
    )
    redacted, counts = redact_request(request)
    assert redacted.title == "login failed for [REDACTED:email]"
    assert "pw123" not in redacted.description
    assert redacted.labels == {
        "alertname": "DbDown",
        "dsn": "mysql://root:[REDACTED:url_password]@db:3306",
    }
    assert redacted.service == "checkout-web"
    assert redacted.allowed_actions == ("clear_cache",)
    assert counts == {"email": 1, "url_password": 2}


def test_the_rules_generator_url_keeps_its_look_alike_tokens_but_not_passwords() -> None:
    """A Grafana rule's URL carries its uid, which the generic token rule would take for a
    secret; the rules provider needs the URL whole. A password in it still goes."""
    grafana = "https://grafana.example.com/alerting/grafana/fe3Ab9Kd02XmQp7RtZ1wYv5LcN8sHu4B/view"
    with_password = "http://admin:hunter22@prometheus:9090/graph?g0.expr=up+%3D%3D+0"
    request = TriageRequest(
        service="checkout-web", title="rule fired", description="",
        labels={"generatorURL": grafana, "dashboard": grafana}, severity=None,
        allowed_actions=(), categories=("unknown",),
    )
    redacted, _counts = redact_request(request)
    assert redacted.labels["generatorURL"] == grafana
    assert redacted.labels["dashboard"] != grafana  # anywhere else it is redacted as before
    redacted, _counts = redact_request(
        replace(request, labels={"generatorURL": with_password}))
    assert redacted.labels["generatorURL"] == (
        "http://admin:[REDACTED:url_password]@prometheus:9090/graph?g0.expr=up+%3D%3D+0")


_PIECES = st.sampled_from([text for text, _secret, _kind in MUST_REDACT] + MUST_KEEP)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=40)), max_size=6).map(" ".join))
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)
    twice = redact(once.text)
    assert twice.text == once.text
    assert dict(twice.counts) == {}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(MUST_REDACT), st.sampled_from(MUST_KEEP), st.sampled_from(MUST_KEEP))
def test_secrets_embedded_in_alert_text_go_and_the_text_stays(
    case: tuple[str, str, str], before: str, after: str
) -> None:
    text, secret, _kind = case
    result = redact(f"{before}\n{text}\n{after}")
    assert secret not in result.text
    assert result.text.startswith(before + "\n")
    assert result.text.endswith("\n" + after)


def test_placeholders_are_not_mistaken_for_secrets() -> None:
    text = "password=[REDACTED:secret_value] Bearer [REDACTED:bearer]"
    assert redact(text).text == text
    assert re.search(r"\[REDACTED:\w+\]", text)
