"""Approving in Slack, end to end: a real Warden on a port, the fake Slack's Web API on
another, and interactions signed as Slack signs them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import RunningWarden
from tests.fakes.slack_server import (
    FakeSlackServer,
    PostedMessage,
    block_actions,
    interaction_body,
    signed_headers,
)
from tests.slack.conftest import CRITICAL_ONCALL, ONCALL, PUBLIC_URL, SIGNING_SECRET

APPROVE = "warden_approve"
REJECT = "warden_reject"
ALERT_TITLE = "Redis cache memory at 97%"


def raise_alert(running: RunningWarden, service: str) -> int:
    with running.client() as client:
        response = client.post("/v1/alerts/generic", json={
            "service": service, "title": ALERT_TITLE,
            "description": "cache memory usage is near its limit; evictions are failing",
            "labels": {"team": "payments", "region": "eu-west-1"}})
    assert response.status_code == 202, response.text
    return int(response.json()["alerts"][0]["incident_id"])


def incident(running: RunningWarden, incident_id: int) -> dict[str, Any]:
    with running.reader() as client:
        body: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}").json()
    return body


def request_message(slack: FakeSlackServer, incident_id: int) -> PostedMessage:
    """The approval request Slack received for the incident."""
    def posted() -> PostedMessage | None:
        return next((m for m in slack.messages
                     if f"incident #{incident_id} " in m.text), None)

    slack.wait_for(lambda: posted() is not None)
    message = posted()
    assert message is not None
    return message


def click(running: RunningWarden, slack: FakeSlackServer, message: PostedMessage,
          action_id: str, user_id: str, *, secret: str = SIGNING_SECRET,
          timestamp: int | None = None, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        body = interaction_body(block_actions(message, action_id, user_id=user_id,
                                              response_url=slack.response_url(user_id)))
    if headers is None:
        headers = signed_headers(secret, body, timestamp=timestamp)
    with running.client() as client:
        return client.post("/v1/slack/interactions", content=body, headers=headers)


def pending(running: RunningWarden, incident_id: int) -> dict[str, Any]:
    running.wait_for(lambda: incident(running, incident_id)["approval_state"] == "pending")
    return incident(running, incident_id)


def test_request_shows_the_evidence_above_both_buttons(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer
) -> None:
    running = slack_warden()
    incident_id = raise_alert(running, "checkout-web")
    message = request_message(slack_server, incident_id)

    assert message.channel == ONCALL
    call = slack_server.calls("chat.postMessage")[0]
    assert call.headers["Authorization"] == "Bearer xoxb-test-warden-bot"
    kinds = [b["type"] for b in message.blocks]
    assert kinds[0] == "header"
    assert message.blocks[0]["text"]["text"] == "Approval needed: clear_cache on checkout-web"
    text = message.all_text()
    for shown in ("checkout-web", "standard tier", "resource_exhaustion", "clear_cache",
                  "approval_required", f"{PUBLIC_URL}/incidents/{incident_id}",
                  "Root cause", "needs 1 of: alice, bob"):
        assert shown in text, shown
    excerpt = next(i for i, b in enumerate(message.blocks)
                   if b.get("text", {}).get("text", "").startswith("*Raw alert (excerpt)*"))
    assert ALERT_TITLE in message.blocks[excerpt]["text"]["text"]
    assert '"region": "eu-west-1"' in message.blocks[excerpt]["text"]["text"]
    actions = kinds.index("actions")
    assert excerpt < actions
    buttons = {e["action_id"]: e for e in message.blocks[actions]["elements"]}
    assert set(buttons) == {APPROVE, REJECT}
    assert [b["text"]["text"] for b in buttons.values()] == ["Approve", "Reject"]
    assert buttons[APPROVE]["value"].split(":")[0] == str(incident_id)
    assert buttons[APPROVE]["value"] == buttons[REJECT]["value"]


def test_signed_approval_from_a_listed_user_approves_and_updates_the_message(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer
) -> None:
    running = slack_warden()
    incident_id = raise_alert(running, "checkout-web")
    message = request_message(slack_server, incident_id)
    pending(running, incident_id)

    response = click(running, slack_server, message, APPROVE, "U0ALICE")

    assert response.status_code == 200
    body = incident(running, incident_id)
    assert body["approval_state"] == "approved"
    assert [(a["approver"], a["verdict"], a["channel"]) for a in body["approvals"]] == [
        ("alice", "approve", "slack")]
    slack_server.wait_for(lambda: bool(slack_server.calls("chat.update")))
    update = slack_server.calls("chat.update")[0].body
    assert (update["channel"], update["ts"]) == (message.channel, message.ts)
    assert "Approved by alice" in message.text
    assert "Approved by alice" in message.all_text()
    assert "actions" not in [b["type"] for b in message.blocks]  # the buttons are gone
    assert ALERT_TITLE in message.all_text()  # the evidence stays
    # The approved action ran (a dry run, as the policy says).
    running.wait_for(lambda: bool(incident(running, incident_id)["executions"]))
    assert incident(running, incident_id)["executions"][0]["status"] == "dry_run"


def test_rejection_in_slack_ends_the_request(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer
) -> None:
    running = slack_warden()
    incident_id = raise_alert(running, "checkout-web")
    message = request_message(slack_server, incident_id)
    pending(running, incident_id)

    assert click(running, slack_server, message, REJECT, "U0BOB").status_code == 200

    assert incident(running, incident_id)["approval_state"] == "rejected"
    slack_server.wait_for(lambda: "Rejected by bob" in message.text)
    time.sleep(0.3)
    assert incident(running, incident_id)["executions"] == []


def unchanged(running: RunningWarden, incident_id: int) -> None:
    body = incident(running, incident_id)
    assert body["approval_state"] == "pending"
    assert body["approvals"] == []
    assert body["executions"] == []


@pytest.mark.parametrize("forgery", ["wrong secret", "no signature", "body changed"])
def test_forged_requests_change_nothing(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer, forgery: str
) -> None:
    running = slack_warden()
    incident_id = raise_alert(running, "checkout-web")
    message = request_message(slack_server, incident_id)
    pending(running, incident_id)
    body = interaction_body(block_actions(message, APPROVE, user_id="U0ALICE",
                                          response_url=slack_server.response_url()))
    headers = signed_headers("not-the-secret" if forgery == "wrong secret" else SIGNING_SECRET,
                             body)
    if forgery == "no signature":
        del headers["X-Slack-Signature"]
    if forgery == "body changed":
        body = body.replace(b"U0ALICE", b"U0CAROL")

    response = click(running, slack_server, message, APPROVE, "U0ALICE", body=body,
                     headers=headers)

    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "Nothing was recorded" in response.json()["text"]
    time.sleep(0.3)
    unchanged(running, incident_id)
    # An unverified request's response_url is never called: a stranger chose it.
    assert slack_server.calls("response_url") == []
    assert slack_server.calls("chat.update") == []


def test_a_request_older_than_five_minutes_changes_nothing(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer
) -> None:
    running = slack_warden()
    incident_id = raise_alert(running, "checkout-web")
    message = request_message(slack_server, incident_id)
    pending(running, incident_id)

    response = click(running, slack_server, message, APPROVE, "U0ALICE",
                     timestamp=int(time.time()) - 301)

    assert "more than 5 minutes old" in response.json()["text"]
    unchanged(running, incident_id)


def test_a_replayed_request_changes_nothing(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer
) -> None:
    # payment-gateway needs two approvers: a replay of alice's click must not be taken
    # for a second approval, nor be recorded at all.
    running = slack_warden()
    incident_id = raise_alert(running, "payment-gateway")
    message = request_message(slack_server, incident_id)
    assert message.channel == CRITICAL_ONCALL
    pending(running, incident_id)
    body = interaction_body(block_actions(message, APPROVE, user_id="U0ALICE",
                                          response_url=slack_server.response_url()))
    headers = signed_headers(SIGNING_SECRET, body)

    first = click(running, slack_server, message, APPROVE, "U0ALICE", body=body,
                  headers=headers)
    replay = click(running, slack_server, message, APPROVE, "U0ALICE", body=body,
                   headers=headers)

    assert "1 of 2 needed" in first.json()["text"]
    assert "already received" in replay.json()["text"]
    body_after = incident(running, incident_id)
    assert body_after["approval_state"] == "pending"
    assert [a["approver"] for a in body_after["approvals"]] == ["alice"]
    # The message says who approved so far and keeps its buttons for the second approver.
    slack_server.wait_for(lambda: "Approved by alice (1 of 2 needed)" in message.text)
    assert "actions" in [b["type"] for b in message.blocks]

    assert click(running, slack_server, message, APPROVE, "U0CAROL").status_code == 200
    assert incident(running, incident_id)["approval_state"] == "approved"
    slack_server.wait_for(lambda: "Approved by alice, carol" in message.text)
    assert "actions" not in [b["type"] for b in message.blocks]


@pytest.mark.parametrize("user_id, why", [
    ("U0STRANGER", "not mapped to a Warden approver"),   # not in WARDEN_SLACK_USERS
    ("U0MALLORY", "is not an approver"),                 # mapped, but not in the policy
])
def test_unlisted_users_change_nothing(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer,
    user_id: str, why: str,
) -> None:
    running = slack_warden()
    incident_id = raise_alert(running, "checkout-web")
    message = request_message(slack_server, incident_id)
    pending(running, incident_id)

    response = click(running, slack_server, message, APPROVE, user_id)

    assert response.status_code == 200
    assert why in response.json()["text"]
    unchanged(running, incident_id)
    # Slack signed this one, so its response_url tells the user privately.
    slack_server.wait_for(lambda: bool(slack_server.calls("response_url")))
    told = slack_server.calls("response_url")[0].body
    assert told["response_type"] == "ephemeral"
    assert why in told["text"]
    assert slack_server.calls("chat.update") == []


def test_slack_approvals_do_not_count_where_the_tier_excludes_slack(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer
) -> None:
    running = slack_warden(api_tokens="alice:alice-token")
    incident_id = raise_alert(running, "vault")  # tier restricted: console and CLI only
    message = request_message(slack_server, incident_id)
    pending(running, incident_id)

    response = click(running, slack_server, message, APPROVE, "U0ALICE")

    assert "count only from: cli, console; not from slack" in response.json()["text"]
    unchanged(running, incident_id)


def test_a_click_on_a_message_about_another_decision_changes_nothing(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer
) -> None:
    running = slack_warden()
    incident_id = raise_alert(running, "checkout-web")
    message = request_message(slack_server, incident_id)
    pending(running, incident_id)
    for block in message.blocks:  # as if the message were about an earlier decision
        for element in block.get("elements", []):
            if "value" in element:
                element["value"] = f"{incident_id}:0123456789abcdef"

    response = click(running, slack_server, message, APPROVE, "U0ALICE")

    assert "earlier decision" in response.json()["text"]
    unchanged(running, incident_id)


def test_blocked_outcomes_are_announced_without_buttons(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer
) -> None:
    running = slack_warden()
    with running.client() as client:
        response = client.post("/v1/alerts/generic", json={
            "service": "checkout-web", "title": "Something odd happened"})
    incident_id = int(response.json()["alerts"][0]["incident_id"])

    message = request_message(slack_server, incident_id)

    assert message.blocks[0]["text"]["text"].startswith("Blocked:")
    assert "no_action" in message.all_text()
    assert "actions" not in [b["type"] for b in message.blocks]
