"""Slack as a source, end to end: Events API requests signed as Slack signs them, posted
to a real Warden, which stores alert messages through the normal ingest path."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import RunningWarden
from tests.fakes.slack_server import APP_ID, message_event, signed_headers, url_verification
from tests.slack.conftest import ALERTS, SELZEE_BOT, SIGNING_SECRET

SELZEE_TEXT = ("[FIRING:1] Checkout errors above 5%\nservice: shop-frontend\n"
               "severity: critical\nHTTP 503 from https://shop.example.com/cart")


def send_event(running: RunningWarden, body: dict[str, Any], *, secret: str = SIGNING_SECRET,
               timestamp: int | None = None) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = signed_headers(secret, raw, timestamp=timestamp,
                             content_type="application/json")
    with running.client() as client:
        return client.post("/v1/slack/events", content=raw, headers=headers)


def incidents(running: RunningWarden) -> list[dict[str, Any]]:
    with running.client() as client:
        items: list[dict[str, Any]] = client.get("/v1/incidents").json()["items"]
    return items


def detail(running: RunningWarden, incident_id: int) -> dict[str, Any]:
    with running.client() as client:
        body: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}").json()
    return body


def test_url_verification_is_answered_when_signed(
    slack_warden: Callable[..., RunningWarden]
) -> None:
    running = slack_warden()

    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"

    response = send_event(running, url_verification(challenge))

    assert response.status_code == 200
    assert response.json() == {"challenge": challenge}


@pytest.mark.parametrize("how", ["wrong secret", "stale"])
def test_unverified_events_are_refused(
    slack_warden: Callable[..., RunningWarden], how: str
) -> None:
    running = slack_warden()
    kwargs: dict[str, Any] = ({"secret": "not-the-secret"} if how == "wrong secret"
                              else {"timestamp": int(time.time()) - 301})

    challenge = send_event(running, url_verification("abc"), **kwargs)
    message = send_event(running, message_event(ALERTS, SELZEE_TEXT, bot_id=SELZEE_BOT),
                         **kwargs)

    assert challenge.status_code == 401
    assert "challenge" not in challenge.text
    assert message.status_code == 401
    assert incidents(running) == []


def test_a_message_in_an_alert_channel_becomes_an_alert(
    slack_warden: Callable[..., RunningWarden]
) -> None:
    running = slack_warden()
    event = message_event(ALERTS, SELZEE_TEXT, bot_id="B0OTHERBOT")

    response = send_event(running, event)

    assert response.status_code == 200, response.text
    [stored] = response.json()["alerts"]
    assert stored["duplicate"] is False
    body = detail(running, stored["incident_id"])
    assert body["source"] == "slack"
    assert body["service"] == "shop-frontend"
    assert body["severity"] == "critical"
    assert body["title"] == "[FIRING:1] Checkout errors above 5%"
    [alert] = body["alerts"]
    assert alert["raw"] == event["event"]  # the message, as Slack sent it
    assert alert["labels"]["slack_channel"] == ALERTS
    # It is triaged like any other alert.
    running.wait_for(lambda: detail(running, stored["incident_id"])["decision"] is not None)


def test_a_retried_event_is_one_alert(slack_warden: Callable[..., RunningWarden]) -> None:
    running = slack_warden()
    first = message_event(ALERTS, SELZEE_TEXT, bot_id=SELZEE_BOT)
    retry = {**first, "event_id": "Ev-retry"}  # Slack retries with the same message

    one = send_event(running, first).json()["alerts"][0]
    two = send_event(running, retry).json()["alerts"][0]

    assert two == {**one, "duplicate": True}
    assert len(detail(running, one["incident_id"])["alerts"]) == 1


def test_a_configured_bot_counts_in_any_channel(
    slack_warden: Callable[..., RunningWarden]
) -> None:
    running = slack_warden()

    response = send_event(running, message_event("C0RANDOM", SELZEE_TEXT, bot_id=SELZEE_BOT))

    assert len(response.json()["alerts"]) == 1


@pytest.mark.parametrize("event, why", [
    (message_event("C0RANDOM", SELZEE_TEXT), "neither from a configured channel"),
    (message_event(ALERTS, "Warden: approval needed", bot_id="B0WARDEN", app_id=APP_ID),
     "posted by Warden itself"),
    (message_event(ALERTS, "looking into it", thread_ts="1795714000.000100"),
     "a reply in a thread"),
    (message_event(ALERTS, SELZEE_TEXT, subtype="message_changed"), "not a new post"),
    ({**message_event(ALERTS, SELZEE_TEXT), "event": {"type": "reaction_added"}},
     "not a message event"),
])
def test_other_events_are_acknowledged_and_ignored(
    slack_warden: Callable[..., RunningWarden], event: dict[str, Any], why: str
) -> None:
    running = slack_warden()

    response = send_event(running, event)

    assert response.status_code == 200
    assert why in response.json()["ignored"]
    assert incidents(running) == []
