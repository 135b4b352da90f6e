"""The Slack source adapter and the choice of which messages are alerts (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.slack_server import APP_ID, message_event
from warden.domain import AlertStatus, Severity
from warden.errors import PayloadError
from warden.ingest.sources.slack import SlackAdapter, ignore_reason

RECEIVED_AT = datetime(2026, 11, 26, 17, 45, tzinfo=UTC)
adapter = SlackAdapter()


def parse(body: dict[str, Any]) -> Any:
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    return alert


@pytest.mark.parametrize("text, service, severity", [
    ("Disk full\nservice: checkout-web\nseverity: warning", "checkout-web", Severity.MEDIUM),
    ("*Service:* `payment-gateway` is failing", "payment-gateway", None),
    ("High error rate (service_id=shop-frontend, Severity = critical)", "shop-frontend",
     Severity.CRITICAL),
    ("component: search-api.", "search-api", None),
    ("Something broke somewhere", "unknown", None),
    ('```{"service_id": 42, "error": "HTTP 500 on /cart", "severity": "error"}```', "42",
     Severity.HIGH),
    ('{"service": "auth-service", "message": "token endpoint 503"}', "auth-service", None),
])
def test_service_and_severity_from_the_text(text: str, service: str,
                                            severity: Severity | None) -> None:
    alert = parse(message_event("C0ALERTS", text))
    assert (alert.service, alert.severity) == (service, severity)


def test_attachment_fields_are_read() -> None:
    event = message_event("C0ALERTS", "", attachments=[{
        "fallback": "ignored when the attachment has words",
        "title": "[FIRING:2] HighLatency",
        "fields": [{"title": "Service", "value": "search-api", "short": True}]}])
    alert = parse(event)
    assert alert.title == "[FIRING:2] HighLatency"
    assert alert.service == "search-api"
    assert "ignored" not in alert.description


def test_a_resolve_folds_into_its_firing() -> None:
    firing = parse(message_event("C0ALERTS", "[FIRING:1] HighLatency\nservice: search-api",
                                 ts="1795714811.000100"))
    resolved = parse(message_event("C0ALERTS", "[RESOLVED] HighLatency\nservice: search-api",
                                   ts="1795715811.000100"))
    assert firing.status is AlertStatus.FIRING
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.incident_key == firing.incident_key
    assert resolved.dedup_key != firing.dedup_key


def test_one_message_is_one_delivery() -> None:
    first = parse(message_event("C0ALERTS", "Disk full", ts="1795714811.000100"))
    again = parse({**message_event("C0ALERTS", "Disk full", ts="1795714811.000100"),
                   "event_id": "EvOther"})
    other = parse(message_event("C0ALERTS", "Disk full", ts="1795714812.000100"))
    assert first.dedup_key == again.dedup_key != other.dedup_key
    assert first.starts_at == datetime(2026, 11, 26, 17, 40, 11, 100, tzinfo=UTC)


def test_raw_is_the_message_without_the_envelope_token() -> None:
    body = message_event("C0ALERTS", "Disk full")
    alert = parse(body)
    assert alert.raw == body["event"]
    assert "token" not in alert.raw


@pytest.mark.parametrize("body", [
    {"type": "url_verification", "challenge": "x"},
    {"type": "event_callback", "event": {"type": "reaction_added"}},
    message_event("C0ALERTS", "edited", subtype="message_changed"),
])
def test_bodies_without_a_posted_message_hold_no_alerts(body: dict[str, Any]) -> None:
    assert adapter.parse(body, received_at=RECEIVED_AT) == []


@pytest.mark.parametrize("change, where", [
    ({"ts": "yesterday"}, "$.event.ts"),
    ({"ts": None}, "$.event.ts"),
    ({"channel": 7}, "$.event.channel"),
    ({"text": "nul\x00byte"}, "$.event.text"),
])
def test_malformed_messages_are_refused(change: dict[str, Any], where: str) -> None:
    body = message_event("C0ALERTS", "Disk full")
    body["event"].update(change)
    with pytest.raises(PayloadError) as refused:
        adapter.parse(body, received_at=RECEIVED_AT)
    assert refused.value.where == where


CHANNELS = ["C0ALERTS"]
BOTS = ["B0SELZEE"]


@pytest.mark.parametrize("body, why", [
    (message_event("C0ALERTS", "x"), None),
    (message_event("C0OTHER", "x", bot_id="B0SELZEE"), None),
    (message_event("C0ALERTS", "x", thread_ts="1795714811.000200"), None),  # a thread's start
    (message_event("C0OTHER", "x"), "neither from a configured channel"),
    (message_event("C0ALERTS", "x", bot_id="B0WARDEN", app_id=APP_ID), "Warden itself"),
    (message_event("C0ALERTS", "x", thread_ts="1795714000.000100"), "reply in a thread"),
    (message_event("C0ALERTS", "x", subtype="channel_join"), "not a new post"),
    (message_event("C0ALERTS", "x", hidden=True), "hidden"),
    ({"type": "url_verification"}, "not an event callback"),
    ([], "not an event callback"),
])
def test_which_messages_are_alerts(body: Any, why: str | None) -> None:
    reason = ignore_reason(body, channels=CHANNELS, bot_ids=BOTS)
    assert reason == why if why is None else why in str(reason)
