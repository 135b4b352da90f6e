"""Alertmanager v4 webhook bodies, starting from bodies captured from Alertmanager 0.25."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.ingest.conftest import RECEIVED_AT, sample
from warden.domain import AlertStatus, Severity
from warden.errors import PayloadError
from warden.ingest.sources import ADAPTERS

adapter = ADAPTERS["alertmanager"]
GROUP_KEY = '{}:{alertname="HighLatency", service="checkout"}'


def test_captured_firing_body() -> None:
    body = sample("alertmanager-0.25-firing")
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert alert.source == "alertmanager"
    assert alert.service == "checkout"
    assert alert.title == "p99 latency 3s"
    assert alert.description == ""
    assert alert.severity is Severity.CRITICAL
    assert alert.labels == {"alertname": "HighLatency", "service": "checkout",
                            "severity": "critical"}
    assert alert.fingerprint == "c75f68922c9ebc87"
    assert alert.incident_key == f"alertmanager:{GROUP_KEY}"
    assert alert.status is AlertStatus.FIRING
    assert alert.starts_at == datetime(2026, 11, 26, 17, 20, 8, 805613, tzinfo=UTC)
    assert alert.ends_at is None
    assert alert.raw == body["alerts"][0]
    assert len(alert.dedup_key) == 64


def test_captured_resolved_body_resolves_the_same_incident() -> None:
    [firing] = adapter.parse(sample("alertmanager-0.25-firing"), received_at=RECEIVED_AT)
    [resolved] = adapter.parse(sample("alertmanager-0.25-resolved"),
                               received_at=RECEIVED_AT + timedelta(seconds=6))
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.incident_key == firing.incident_key
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.dedup_key != firing.dedup_key
    assert resolved.ends_at == datetime(2026, 11, 26, 17, 20, 14, tzinfo=UTC)


def test_ha_peers_and_retries_deliver_the_same_dedup_key() -> None:
    first = sample("alertmanager-0.25-firing")
    # The second peer of an HA pair has its own URL and may say so; the notification is
    # the same. A retry arrives later.
    peer = copy.deepcopy(first)
    peer["externalURL"] = "http://vm2:9093"
    [a] = adapter.parse(first, received_at=RECEIVED_AT)
    [b] = adapter.parse(peer, received_at=RECEIVED_AT + timedelta(seconds=1))
    [c] = adapter.parse(first, received_at=RECEIVED_AT + timedelta(minutes=5))
    assert a.dedup_key == b.dedup_key == c.dedup_key
    assert a == c


def test_a_new_firing_after_resolve_is_a_new_delivery() -> None:
    [before] = adapter.parse(sample("alertmanager-0.25-firing"), received_at=RECEIVED_AT)
    again = sample("alertmanager-0.25-firing")
    again["alerts"][0]["startsAt"] = "2026-11-26T18:00:00Z"
    [after] = adapter.parse(again, received_at=RECEIVED_AT)
    assert after.dedup_key != before.dedup_key
    assert after.incident_key == before.incident_key


def test_each_alert_of_a_group_is_one_alert_in_order() -> None:
    body = sample("alertmanager-0.25-firing")
    second = copy.deepcopy(body["alerts"][0])
    second["labels"] = {"alertname": "HighLatency", "service": "checkout",
                        "instance": "pod-2", "severity": "warning"}
    second["fingerprint"] = "0123456789abcdef"
    body["alerts"].append(second)
    alerts = adapter.parse(body, received_at=RECEIVED_AT)
    assert [a.fingerprint for a in alerts] == ["c75f68922c9ebc87", "0123456789abcdef"]
    assert [a.severity for a in alerts] == [Severity.CRITICAL, Severity.MEDIUM]
    assert len({a.incident_key for a in alerts}) == 1
    assert len({a.dedup_key for a in alerts}) == 2


def test_an_empty_group_has_no_alerts() -> None:
    body = sample("alertmanager-0.25-firing")
    body["alerts"] = []
    assert adapter.parse(body, received_at=RECEIVED_AT) == []


def test_a_missing_version_is_accepted() -> None:
    body = sample("alertmanager-0.25-firing")
    del body["version"]
    assert len(adapter.parse(body, received_at=RECEIVED_AT)) == 1


@pytest.mark.parametrize(
    ("labels", "annotations", "service", "title", "description"),
    [
        ({"alertname": "A", "service": "s", "app": "a", "job": "j"}, {}, "s", "A", ""),
        ({"alertname": "A", "service": "", "app": "a", "job": "j"}, {}, "a", "A", ""),
        ({"alertname": "A", "job": "node"}, {"message": "m"}, "node", "A", "m"),
        ({"alertname": "Watchdog"}, {"summary": "x", "description": "d", "message": "m"},
         "Watchdog", "x", "d"),
        ({"team": "payments"}, {}, "unknown", "alert from alertmanager", ""),
    ],
)
def test_service_title_and_description_fall_back_in_order(
    labels: dict[str, str], annotations: dict[str, str], service: str, title: str,
    description: str,
) -> None:
    body = sample("alertmanager-0.25-firing")
    body["alerts"][0].update(labels=labels, annotations=annotations)
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert (alert.service, alert.title, alert.description) == (service, title, description)


@pytest.mark.parametrize(
    ("word", "severity"),
    [("critical", Severity.CRITICAL), ("CRITICAL", Severity.CRITICAL),
     ("error", Severity.HIGH), ("High", Severity.HIGH), ("warning", Severity.MEDIUM),
     ("medium", Severity.MEDIUM), ("info", Severity.LOW), ("low", Severity.LOW),
     ("page", None), ("none", None), ("", None)],
)
def test_severity_label_words(word: str, severity: Severity | None) -> None:
    body = sample("alertmanager-0.25-firing")
    body["alerts"][0]["labels"]["severity"] = word
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert alert.severity == severity


def test_without_a_fingerprint_one_is_derived_from_the_labels() -> None:
    body = sample("alertmanager-0.25-firing")
    del body["alerts"][0]["fingerprint"]
    [a] = adapter.parse(body, received_at=RECEIVED_AT)
    [b] = adapter.parse(copy.deepcopy(body), received_at=RECEIVED_AT)
    body["alerts"][0]["labels"]["instance"] = "pod-9"
    [c] = adapter.parse(body, received_at=RECEIVED_AT)
    assert len(a.fingerprint) == 64
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_times_are_utc_whatever_offset_was_sent() -> None:
    body = sample("alertmanager-0.25-firing")
    body["alerts"][0]["startsAt"] = "2026-11-26T19:20:08+02:00"
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert alert.starts_at == datetime(2026, 11, 26, 17, 20, 8, tzinfo=UTC)
    assert alert.starts_at.utcoffset() == timedelta(0)


def test_a_very_long_group_key_is_hashed_into_a_bounded_incident_key() -> None:
    body = sample("alertmanager-0.25-firing")
    body["groupKey"] = "{}:{" + ", ".join(f'l{i}="{"v" * 20}"' for i in range(40)) + "}"
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert alert.incident_key.startswith("alertmanager:sha256:")
    assert len(alert.incident_key) <= 255


def _set(body: dict[str, Any], path: tuple[str | int, ...], value: object) -> None:
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()

WRONG_SHAPES = [
    ((), [], "$"),
    (("version",), "3", "$.version"),
    (("version",), 4, "$.version"),
    (("groupKey",), _DELETE, "$.groupKey"),
    (("groupKey",), "", "$.groupKey"),
    (("groupKey",), ["a"], "$.groupKey"),
    (("alerts",), _DELETE, "$.alerts"),
    (("alerts",), {"0": {}}, "$.alerts"),
    (("alerts", 0), "firing", "$.alerts[0]"),
    (("alerts", 0, "status"), "pending", "$.alerts[0].status"),
    (("alerts", 0, "status"), _DELETE, "$.alerts[0].status"),
    (("alerts", 0, "labels"), ["service=checkout"], "$.alerts[0].labels"),
    (("alerts", 0, "labels", "severity"), 3, "$.alerts[0].labels.severity"),
    (("alerts", 0, "labels", "k8s.io/app"), None, '$.alerts[0].labels["k8s.io/app"]'),
    (("alerts", 0, "labels", "service"), "x" * 256, "$.alerts[0].labels.service"),
    (("alerts", 0, "labels", "service"), "check\x00out", "$.alerts[0].labels.service"),
    (("alerts", 0, "labels", "service"), "check\ud800out", "$.alerts[0].labels.service"),
    (("alerts", 0, "annotations"), "summary", "$.alerts[0].annotations"),
    (("alerts", 0, "annotations", "summary"), {"text": "x"},
     "$.alerts[0].annotations.summary"),
    (("alerts", 0, "startsAt"), _DELETE, "$.alerts[0].startsAt"),
    (("alerts", 0, "startsAt"), "yesterday", "$.alerts[0].startsAt"),
    (("alerts", 0, "startsAt"), 1795714811, "$.alerts[0].startsAt"),
    (("alerts", 0, "startsAt"), "0001-01-01T00:00:00+05:00", "$.alerts[0].startsAt"),
    (("alerts", 0, "endsAt"), "soon", "$.alerts[0].endsAt"),
    (("alerts", 0, "fingerprint"), 12345, "$.alerts[0].fingerprint"),
    (("alerts", 0, "fingerprint"), "f" * 256, "$.alerts[0].fingerprint"),
]


@pytest.mark.parametrize(("path", "value", "where"), WRONG_SHAPES)
def test_wrong_shapes_name_where(path: tuple[str | int, ...], value: object, where: str) -> None:
    body: Any = sample("alertmanager-0.25-firing")
    if path:
        _set(body, path, value)
    else:
        body = value
    with pytest.raises(PayloadError) as caught:
        adapter.parse(body, received_at=RECEIVED_AT)
    assert caught.value.where == where
    assert str(caught.value)


def test_unsupported_version_says_which_version_is_read() -> None:
    body = sample("alertmanager-0.25-firing")
    body["version"] = "5"
    with pytest.raises(PayloadError, match=r"version '5' is not supported.*'4'"):
        adapter.parse(body, received_at=RECEIVED_AT)
