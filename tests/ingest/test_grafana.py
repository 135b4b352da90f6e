"""Grafana unified-alerting webhook bodies (``webhookMessage``, version "1")."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.ingest.conftest import RECEIVED_AT, sample
from warden.domain import AlertStatus, Severity
from warden.errors import PayloadError
from warden.ingest.sources import ADAPTERS

adapter = ADAPTERS["grafana"]


def test_firing_group_gives_one_alert_per_item() -> None:
    body = sample("grafana-11-firing")
    alerts = adapter.parse(body, received_at=RECEIVED_AT)
    assert [a.labels["zone"] for a in alerts] == ["eu-1", "us-1"]
    first = alerts[0]
    assert first.source == "grafana"
    assert first.service == "checkout-api"
    assert first.title == "checkout-api memory above 90% in eu-1"
    assert first.description.startswith("Resident memory of checkout-api in eu-1")
    assert first.severity is Severity.MEDIUM
    assert first.fingerprint == "c6eadffa33fcdf37"
    assert first.incident_key == "grafana:1:" + body["groupKey"]
    assert first.status is AlertStatus.FIRING
    assert first.starts_at == datetime(2026, 11, 26, 16, 51, 3, 157076, tzinfo=UTC)
    assert first.ends_at is None
    # Grafana's own per-alert fields stay in raw.
    assert first.raw["values"] == {"B": 93.21487303, "C": 1}
    assert first.raw["dashboardURL"].startswith("https://grafana.example.com/d/")
    assert {a.incident_key for a in alerts} == {first.incident_key}
    assert len({a.dedup_key for a in alerts}) == 2


def test_resolved_group_resolves_the_same_incident() -> None:
    firing = adapter.parse(sample("grafana-11-firing"), received_at=RECEIVED_AT)
    resolved = adapter.parse(sample("grafana-11-resolved"),
                             received_at=RECEIVED_AT + timedelta(minutes=15))
    assert [a.status for a in resolved] == [AlertStatus.RESOLVED] * 2
    assert [a.incident_key for a in resolved] == [a.incident_key for a in firing]
    assert [a.fingerprint for a in resolved] == [a.fingerprint for a in firing]
    assert resolved[0].ends_at == datetime(2026, 11, 26, 17, 4, 3, 157076, tzinfo=UTC)


def test_redelivery_is_the_same_delivery() -> None:
    body = sample("grafana-11-firing")
    again = copy.deepcopy(body)
    again["title"] = "[FIRING:2] re-sent"
    first = adapter.parse(body, received_at=RECEIVED_AT)
    later = adapter.parse(again, received_at=RECEIVED_AT + timedelta(minutes=4))
    assert [a.dedup_key for a in first] == [a.dedup_key for a in later]


def test_organisations_with_the_same_group_key_are_different_incidents() -> None:
    one = sample("grafana-11-firing")
    two = sample("grafana-11-firing")
    two["orgId"] = 2
    no_org = sample("grafana-11-firing")
    del no_org["orgId"]
    keys = {adapter.parse(b, received_at=RECEIVED_AT)[0].incident_key
            for b in (one, two, no_org)}
    assert keys == {"grafana:1:" + one["groupKey"], "grafana:2:" + one["groupKey"],
                    "grafana:" + one["groupKey"]}


def test_legacy_grafana_alerting_body_is_refused_with_a_reason() -> None:
    legacy = {"evalMatches": [{"value": 100, "metric": "High value", "tags": None}],
              "message": "Someone is testing", "ruleId": 0, "ruleName": "Test notification",
              "ruleUrl": "https://localhost:3000/", "state": "alerting",
              "title": "[Alerting] Test notification"}
    with pytest.raises(PayloadError, match="legacy") as caught:
        adapter.parse(legacy, received_at=RECEIVED_AT)
    assert caught.value.where == "$.alerts"


WRONG_SHAPES: list[tuple[tuple[str | int, ...], object, str]] = [
    (("version",), "4", "$.version"),
    (("orgId",), "1", "$.orgId"),
    (("orgId",), True, "$.orgId"),
    (("orgId",), 2**64, "$.orgId"),
    (("groupKey",), None, "$.groupKey"),
    (("alerts",), "none", "$.alerts"),
    (("alerts", 1), None, "$.alerts[1]"),
    (("alerts", 1, "status"), "alerting", "$.alerts[1].status"),
    (("alerts", 1, "labels", "zone"), ["us-1"], "$.alerts[1].labels.zone"),
    (("alerts", 1, "annotations", "summary"), 1.5, "$.alerts[1].annotations.summary"),
    (("alerts", 1, "startsAt"), "2026-13-01T00:00:00Z", "$.alerts[1].startsAt"),
    (("alerts", 1, "endsAt"), 0, "$.alerts[1].endsAt"),
    (("alerts", 1, "fingerprint"), {"id": 1}, "$.alerts[1].fingerprint"),
]


@pytest.mark.parametrize(("path", "value", "where"), WRONG_SHAPES)
def test_wrong_shapes_name_where(path: tuple[str | int, ...], value: object, where: str) -> None:
    body: Any = sample("grafana-11-firing")
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(PayloadError) as caught:
        adapter.parse(body, received_at=RECEIVED_AT)
    assert caught.value.where == where
