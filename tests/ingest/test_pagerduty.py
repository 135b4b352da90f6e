"""PagerDuty Events API v2 bodies: trigger, acknowledge, resolve."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.ingest.conftest import RECEIVED_AT, sample
from warden.domain import AlertStatus, Severity
from warden.errors import PayloadError
from warden.ingest.sources import ADAPTERS

adapter = ADAPTERS["pagerduty"]
ROUTING_HASH = hashlib.sha256(
    json.dumps(["R0123456789ABCDEF0123456789ABCDE"]).encode()).hexdigest()[:12]
KEY = f"pagerduty:{ROUTING_HASH}:checkout-db/connection-pool-exhausted"


def test_trigger() -> None:
    body = sample("pagerduty-trigger")
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert alert.source == "pagerduty"
    assert alert.service == "checkout-db"
    assert alert.title == "checkout-db connection pool exhausted (200/200 in use)"
    assert json.loads(alert.description) == body["payload"]["custom_details"]
    assert alert.severity is Severity.CRITICAL
    assert alert.labels == {"source": "db-proxy-7f9c.prod.example.com",
                            "component": "checkout-db", "group": "prod-datapipe",
                            "class": "connection pool", "severity": "critical"}
    assert alert.fingerprint == "checkout-db/connection-pool-exhausted"
    assert alert.incident_key == KEY
    assert "R0123456789ABCDEF" not in alert.incident_key
    assert alert.status is AlertStatus.FIRING
    assert alert.starts_at == datetime(2026, 11, 26, 17, 31, 2, tzinfo=UTC)
    assert alert.raw == body
    assert alert.raw["payload"]["custom_details"]["waiting_clients"] == 57


def test_resolve_resolves_the_incident_the_trigger_opened() -> None:
    [trigger] = adapter.parse(sample("pagerduty-trigger"), received_at=RECEIVED_AT)
    [resolve] = adapter.parse(sample("pagerduty-resolve"),
                              received_at=RECEIVED_AT + timedelta(minutes=9))
    assert resolve.status is AlertStatus.RESOLVED
    assert resolve.incident_key == trigger.incident_key
    assert resolve.fingerprint == trigger.fingerprint
    assert resolve.dedup_key != trigger.dedup_key
    assert resolve.service == "unknown"
    assert resolve.starts_at == RECEIVED_AT + timedelta(minutes=9)


def test_acknowledge_is_a_firing_alert_of_the_same_incident() -> None:
    [trigger] = adapter.parse(sample("pagerduty-trigger"), received_at=RECEIVED_AT)
    [ack] = adapter.parse(sample("pagerduty-acknowledge"), received_at=RECEIVED_AT)
    assert ack.status is AlertStatus.FIRING
    assert ack.incident_key == trigger.incident_key
    assert ack.dedup_key != trigger.dedup_key
    assert ack.raw["event_action"] == "acknowledge"


def test_retried_trigger_with_a_timestamp_is_the_same_delivery() -> None:
    [a] = adapter.parse(sample("pagerduty-trigger"), received_at=RECEIVED_AT)
    [b] = adapter.parse(sample("pagerduty-trigger"), received_at=RECEIVED_AT + timedelta(1))
    assert a.dedup_key == b.dedup_key


def test_without_a_timestamp_every_delivery_counts() -> None:
    body = sample("pagerduty-trigger")
    del body["payload"]["timestamp"]
    [a] = adapter.parse(body, received_at=RECEIVED_AT)
    [b] = adapter.parse(body, received_at=RECEIVED_AT + timedelta(seconds=30))
    assert a.incident_key == b.incident_key
    assert a.dedup_key != b.dedup_key
    assert a.starts_at == RECEIVED_AT


def test_trigger_without_dedup_key_is_keyed_by_its_content() -> None:
    body = sample("pagerduty-trigger")
    del body["dedup_key"]
    [a] = adapter.parse(body, received_at=RECEIVED_AT)
    [again] = adapter.parse(json.loads(json.dumps(body)), received_at=RECEIVED_AT)
    body["payload"]["summary"] = "checkout-db connection pool exhausted (198/200 in use)"
    [other] = adapter.parse(body, received_at=RECEIVED_AT)
    assert len(a.fingerprint) == 64
    assert a.fingerprint == again.fingerprint and a.dedup_key == again.dedup_key
    assert other.incident_key != a.incident_key


@pytest.mark.parametrize(("word", "severity"), [
    ("critical", Severity.CRITICAL), ("error", Severity.HIGH),
    ("warning", Severity.MEDIUM), ("info", Severity.LOW), ("Warning", Severity.MEDIUM)])
def test_severity_words(word: str, severity: Severity) -> None:
    body = sample("pagerduty-trigger")
    body["payload"]["severity"] = word
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert alert.severity is severity


def test_service_is_component_else_source() -> None:
    body = sample("pagerduty-trigger")
    del body["payload"]["component"]
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert alert.service == "db-proxy-7f9c.prod.example.com"


def test_string_custom_details_are_the_description() -> None:
    body = sample("pagerduty-trigger")
    body["payload"]["custom_details"] = "pool exhausted since 17:30"
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert alert.description == "pool exhausted since 17:30"


_DELETE = object()

WRONG_SHAPES: list[tuple[str, tuple[str, ...], object, str]] = [
    ("pagerduty-trigger", ("routing_key",), _DELETE, "$.routing_key"),
    ("pagerduty-trigger", ("routing_key",), 42, "$.routing_key"),
    ("pagerduty-trigger", ("event_action",), "escalate", "$.event_action"),
    ("pagerduty-trigger", ("event_action",), _DELETE, "$.event_action"),
    ("pagerduty-trigger", ("dedup_key",), "k" * 256, "$.dedup_key"),
    ("pagerduty-trigger", ("dedup_key",), 7, "$.dedup_key"),
    ("pagerduty-trigger", ("payload",), _DELETE, "$.payload"),
    ("pagerduty-trigger", ("payload",), "summary", "$.payload"),
    ("pagerduty-trigger", ("payload", "summary"), _DELETE, "$.payload.summary"),
    ("pagerduty-trigger", ("payload", "summary"), "  ", "$.payload.summary"),
    ("pagerduty-trigger", ("payload", "source"), _DELETE, "$.payload.source"),
    ("pagerduty-trigger", ("payload", "severity"), _DELETE, "$.payload.severity"),
    ("pagerduty-trigger", ("payload", "severity"), "high", "$.payload.severity"),
    ("pagerduty-trigger", ("payload", "component"), ["db"], "$.payload.component"),
    ("pagerduty-trigger", ("payload", "component"), "c" * 256, "$.payload.component"),
    ("pagerduty-trigger", ("payload", "class"), 1, "$.payload.class"),
    ("pagerduty-trigger", ("payload", "timestamp"), "17:31", "$.payload.timestamp"),
    ("pagerduty-trigger", ("payload", "custom_details"), "bad\ud800",
     "$.payload.custom_details"),
    ("pagerduty-resolve", ("dedup_key",), _DELETE, "$.dedup_key"),
    ("pagerduty-acknowledge", ("dedup_key",), "", "$.dedup_key"),
    ("pagerduty-resolve", ("payload",), {"severity": "fatal"}, "$.payload.severity"),
]


@pytest.mark.parametrize(("name", "path", "value", "where"), WRONG_SHAPES)
def test_wrong_shapes_name_where(name: str, path: tuple[str, ...], value: object,
                                 where: str) -> None:
    body: Any = sample(name)
    target = body
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    with pytest.raises(PayloadError) as caught:
        adapter.parse(body, received_at=RECEIVED_AT)
    assert caught.value.where == where


def test_a_list_of_events_is_refused() -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.parse([sample("pagerduty-trigger")], received_at=RECEIVED_AT)
    assert caught.value.where == "$"
