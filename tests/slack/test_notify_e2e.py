"""Humans hear in Slack: the policy's ``notify`` action posts to the service's channel,
and Slack and the webhook both get every notice when both are set."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningWarden
from tests.fakes.llm_server import FakeLLMServer, Reply, proposal
from tests.fakes.slack_server import FakeSlackServer

LIVE_POLICY = """
version: 1
mode: live
services:
  payment-gateway: {tier: critical}
  "*": {tier: standard}
actions:
  notify_on_call:
    auto_tiers: [standard, critical]
    executor: {type: notify, message: "Paging on-call for {service}"}
approvers:
  standard: [alice]
  critical: [alice, carol]
"""


def openai(server: FakeLLMServer) -> dict[str, Any]:
    return {"triage_provider": "openai", "llm_base_url": server.base_url,
            "llm_api_key": "sk-test", "llm_models": "model-a", "llm_timeout_s": 2.0}


@pytest.mark.parametrize("service, channel", [
    ("checkout-web", "C0CHECKOUT"),     # the service's own channel
    ("payment-gateway", "C0CRITICAL"),  # its tier's
    ("search-api", "C0ONCALL"),         # the default
])
def test_the_notify_action_posts_to_the_channel_for_the_service(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer,
    llm_server: FakeLLMServer, tmp_path: Path, service: str, channel: str,
) -> None:
    policy = tmp_path / "live.yaml"
    policy.write_text(LIVE_POLICY, encoding="utf-8")
    llm_server.set_default("model-a", Reply(proposal(
        category="connectivity", severity="high", root_cause="upstream down",
        action="notify_on_call", service=service)))
    running = slack_warden(policy=str(policy), **openai(llm_server),
                           slack_channels="checkout-web:C0CHECKOUT,critical:C0CRITICAL")
    with running.client() as client:
        client.post("/v1/alerts/generic", json={"service": service, "title": "upstream down"})

    slack_server.wait_for(lambda: any(m.text == f"Paging on-call for {service}"
                                      for m in slack_server.messages))
    [message] = slack_server.messages
    assert message.channel == channel


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Webhook", (_Webhook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_slack_and_the_webhook_both_hear_of_a_request(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = webhook
    running = slack_warden(notify_webhook_url=url)
    with running.client() as client:
        response = client.post("/v1/alerts/generic", json={
            "service": "checkout-web", "title": "Redis cache memory at 97%"})
    incident_id = response.json()["alerts"][0]["incident_id"]

    slack_server.wait_for(lambda: bool(slack_server.messages))
    running.wait_for(lambda: bool(received))
    assert received[0]["incident"]["id"] == incident_id
    assert "Redis cache memory at 97%" in received[0]["alert_excerpt"]
    assert received[0]["proposal"]["category"] == "resource_exhaustion"

    def report() -> str:
        with running.client() as client:
            return client.get(f"/v1/incidents/{incident_id}/report").text

    running.wait_for(lambda: "notify.sent" in report())  # both took it, so it counts as sent


HOSTILE_TITLE = "<!channel> <!here> <@U0BOSS> see <http://evil.example|status page> & <#C0X>"


def _inert(text: str) -> None:
    """No Slack control sequence survives: each ``<`` ``>`` ``&`` of the alert is escaped."""
    assert "<" not in text and ">" not in text
    assert ("&lt;!channel&gt; &lt;!here&gt; &lt;@U0BOSS&gt; see "
            "&lt;http://evil.example|status page&gt; &amp; &lt;#C0X&gt;") in text


def test_an_alert_cannot_ping_or_disguise_a_link_in_the_notification_text(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = webhook
    running = slack_warden(notify_webhook_url=url)
    with running.client() as client:
        response = client.post("/v1/alerts/generic", json={
            "service": "checkout-web", "title": HOSTILE_TITLE})
    assert response.status_code == 202, response.text

    slack_server.wait_for(lambda: bool(slack_server.messages))
    running.wait_for(lambda: bool(received))
    _inert(received[0]["text"])               # the webhook's text
    _inert(slack_server.messages[0].text)     # Slack's fallback text (notifications)
    assert "<!channel>" not in slack_server.messages[0].all_text()
    # The structured fields keep the alert's words as sent, for machines to read.
    assert received[0]["incident"]["title"] == HOSTILE_TITLE

