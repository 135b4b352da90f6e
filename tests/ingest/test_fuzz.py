"""Any JSON value at all, posted to any source: a ``PayloadError`` or well-formed alerts.

Two generators: arbitrary JSON built from the words the adapters look for, and the
samples with one subtree swapped for arbitrary JSON (which reaches the deep fields).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.conftest import RECEIVED_AT, sample
from warden.domain import Alert, AlertStatus, Severity
from warden.errors import PayloadError
from warden.ingest.sources import ADAPTERS

FIELD_WORDS = [
    "version", "groupKey", "alerts", "status", "labels", "annotations", "startsAt",
    "endsAt", "fingerprint", "orgId", "summary", "description", "message", "alertname",
    "service", "app", "job", "severity", "routing_key", "event_action", "dedup_key",
    "payload", "source", "component", "group", "class", "timestamp", "custom_details",
    "service_id", "error", "error_message", "title", "evalMatches",
]
VALUE_WORDS = [
    "4", "1", "firing", "resolved", "trigger", "acknowledge", "resolve", "critical",
    "error", "warning", "info", "high", "0001-01-01T00:00:00Z", "2026-11-26T17:20:08Z",
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "", " ", "\x00", "\ud800",
]
SAMPLES = {
    "alertmanager": ["alertmanager-0.25-firing", "alertmanager-0.25-resolved"],
    "grafana": ["grafana-11-firing", "grafana-11-resolved"],
    "pagerduty": ["pagerduty-trigger", "pagerduty-acknowledge", "pagerduty-resolve"],
    "selzee": ["selzee-report", "selzee-report-epoch"],
    "slack": ["slack-message"],
    "generic": ["generic"],
}

_chars = st.characters() | st.characters(categories=["Cs"]) | st.sampled_from("\x00\n:")
text = st.text(_chars, max_size=12) | st.sampled_from(VALUE_WORDS)
keys = st.sampled_from(FIELD_WORDS) | st.text(_chars, max_size=8)
scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**80),
                                                              max_value=2**80)
    # json.loads turns 1e999 into inf, so infinities do arrive; NaN is refused upstream.
    | st.floats(allow_nan=False) | text
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(keys, children, max_size=6),
    max_leaves=25,
)

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def assert_well_formed(alerts: list[Alert], source: str) -> None:
    """What the store and the next stages rely on."""
    for alert in alerts:
        assert alert.source == source
        assert isinstance(alert.status, AlertStatus)
        assert alert.severity is None or isinstance(alert.severity, Severity)
        assert alert.starts_at.utcoffset() is not None
        assert alert.ends_at is None or alert.ends_at.utcoffset() is not None
        assert len(alert.dedup_key) == 64
        assert 0 < len(alert.fingerprint) <= 255
        assert 0 < len(alert.service) <= 255
        assert len(alert.incident_key) <= 512
        stored = [alert.service, alert.title, alert.description, alert.fingerprint,
                  alert.incident_key, *alert.labels, *alert.labels.values()]
        for value in stored:
            assert isinstance(value, str) and "\x00" not in value
            value.encode("utf-8")
        assert isinstance(alert.raw, dict)


def parse_or_refuse(source: str, body: object) -> None:
    adapter = ADAPTERS[source]
    try:
        alerts = adapter.parse(body, received_at=RECEIVED_AT)
    except PayloadError as exc:
        assert exc.where.startswith("$")
        assert str(exc)
        return
    assert_well_formed(alerts, source)
    assert adapter.parse(copy.deepcopy(body), received_at=RECEIVED_AT) == alerts


@pytest.mark.parametrize("source", sorted(ADAPTERS))
@FUZZ
@given(body=json_values)
def test_arbitrary_json(source: str, body: object) -> None:
    parse_or_refuse(source, body)


def _replace_somewhere(data: st.DataObject, node: Any, replacement: object,
                       depth: int = 0) -> Any:
    """``node`` with one subtree below the top swapped for ``replacement`` or deleted
    (the top itself is ``test_arbitrary_json``'s)."""
    if not isinstance(node, dict | list) or not node or (
            depth and data.draw(st.integers(0, 2)) == 0):
        return replacement
    if isinstance(node, dict):
        key = data.draw(st.sampled_from(sorted(node)))
        if data.draw(st.integers(0, 7)) == 0:
            del node[key]
            return node
    else:
        key = data.draw(st.integers(0, len(node) - 1))
    node[key] = _replace_somewhere(data, node[key], replacement, depth + 1)
    return node


@pytest.mark.parametrize("source", sorted(ADAPTERS))
@FUZZ
@given(data=st.data(), replacement=json_values)
def test_samples_with_one_part_replaced(source: str, data: st.DataObject,
                                        replacement: object) -> None:
    body = sample(data.draw(st.sampled_from(SAMPLES[source])))
    parse_or_refuse(source, _replace_somewhere(data, body, replacement))
