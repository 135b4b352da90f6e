"""Generic JSON alerts: ``service`` and ``title`` required, the rest optional."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ingest.conftest import RECEIVED_AT, sample
from warden.domain import AlertStatus, Severity
from warden.errors import PayloadError
from warden.ingest.sources import ADAPTERS

adapter = ADAPTERS["generic"]


def test_full_body() -> None:
    body = sample("generic")
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert alert.source == "generic"
    assert alert.service == "checkout-web"
    assert alert.title == "Redis cache memory at 97%"
    assert alert.description == "maxmemory is 2 GiB; evictions started at 17:42 UTC."
    assert alert.severity is Severity.HIGH
    assert alert.labels == {"cluster": "prod-eu", "instance": "redis-3:6379"}
    assert alert.status is AlertStatus.FIRING
    assert alert.starts_at == RECEIVED_AT
    assert alert.ends_at is None
    assert alert.raw == body
    assert alert.incident_key.startswith("generic:")


def test_minimal_body() -> None:
    [alert] = adapter.parse({"service": "api", "title": "down"}, received_at=RECEIVED_AT)
    assert (alert.description, alert.severity, alert.labels) == ("", None, {})


def test_resolved_closes_the_same_incident() -> None:
    [firing] = adapter.parse(sample("generic"), received_at=RECEIVED_AT)
    [resolved] = adapter.parse({**sample("generic"), "status": "resolved"},
                               received_at=RECEIVED_AT + timedelta(minutes=1))
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.incident_key == firing.incident_key


def test_varying_labels_do_not_split_the_incident() -> None:
    keys = {adapter.parse({"service": "api", "title": "down", "labels": {"attempt": str(i)}},
                          received_at=RECEIVED_AT)[0].incident_key for i in range(5)}
    assert len(keys) == 1


def test_every_delivery_counts_and_firing_again_is_not_a_duplicate() -> None:
    body = sample("generic")
    [first] = adapter.parse(body, received_at=RECEIVED_AT)
    [same_instant] = adapter.parse(body, received_at=RECEIVED_AT)
    [later] = adapter.parse(body, received_at=RECEIVED_AT + timedelta(microseconds=1))
    [other] = adapter.parse({**body, "labels": {"attempt": "2"}}, received_at=RECEIVED_AT)
    assert first.dedup_key == same_instant.dedup_key
    assert len({first.dedup_key, later.dedup_key, other.dedup_key}) == 3


def test_explicit_fingerprint_names_the_alert() -> None:
    [a] = adapter.parse({"service": "api", "title": "p99 2.1s", "fingerprint": "api-latency"},
                        received_at=RECEIVED_AT)
    [b] = adapter.parse({"service": "api", "title": "p99 3.4s", "fingerprint": "api-latency"},
                        received_at=RECEIVED_AT)
    [c] = adapter.parse({"service": "web", "title": "p99 3.4s", "fingerprint": "api-latency"},
                        received_at=RECEIVED_AT)
    assert a.fingerprint == "api-latency"
    assert a.incident_key == b.incident_key != c.incident_key


@pytest.mark.parametrize(("word", "severity"), [
    ("critical", Severity.CRITICAL), ("HIGH", Severity.HIGH), ("error", Severity.HIGH),
    ("medium", Severity.MEDIUM), ("warning", Severity.MEDIUM), ("low", Severity.LOW),
    ("Info", Severity.LOW)])
def test_severity_words(word: str, severity: Severity) -> None:
    [alert] = adapter.parse({"service": "a", "title": "t", "severity": word},
                            received_at=RECEIVED_AT)
    assert alert.severity is severity


@pytest.mark.parametrize(("body", "where"), [
    (None, "$"),
    ([{"service": "a", "title": "t"}], "$"),
    ({"title": "no service"}, "$.service"),
    ({"service": "a"}, "$.title"),
    ({"service": "", "title": "t"}, "$.service"),
    ({"service": "a", "title": "   "}, "$.title"),
    ({"service": 7, "title": "t"}, "$.service"),
    ({"service": "s" * 256, "title": "t"}, "$.service"),
    ({"service": "a", "title": ["t"]}, "$.title"),
    ({"service": "a", "title": "t", "description": {"text": "d"}}, "$.description"),
    ({"service": "a", "title": "t", "severity": "sev1"}, "$.severity"),
    ({"service": "a", "title": "t", "severity": ""}, "$.severity"),
    ({"service": "a", "title": "t", "severity": 1}, "$.severity"),
    ({"service": "a", "title": "t", "labels": "env=prod"}, "$.labels"),
    ({"service": "a", "title": "t", "labels": {"env": 1}}, "$.labels.env"),
    ({"service": "a", "title": "t", "labels": {"a b": None}}, '$.labels["a b"]'),
    ({"service": "a", "title": "t", "labels": {"x\x00": "v"}}, '$.labels["x\\u0000"]'),
    ({"service": "a", "title": "t", "status": "ok"}, "$.status"),
    ({"service": "a", "title": "t", "status": "Resolved"}, "$.status"),
    ({"service": "a", "title": "t", "fingerprint": ""}, "$.fingerprint"),
    ({"service": "a", "title": "t", "fingerprint": 5}, "$.fingerprint"),
    ({"service": "a", "title": "t", "fingerprint": "f" * 256}, "$.fingerprint"),
    ({"service": "a", "title": "t\ud83d"}, "$.title"),
])
def test_wrong_shapes_name_where(body: object, where: str) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.parse(body, received_at=RECEIVED_AT)
    assert caught.value.where == where
