"""What Slack messages say and what a click on them means (pure), and the Web API client
against the fake Slack."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.slack_server import BOT_TOKEN, FakeSlackServer, PostedMessage, block_actions
from warden.approval.slack import (
    APPROVE_ACTION_ID,
    REJECT_ACTION_ID,
    Refused,
    SlackVote,
    button_value,
    read_interaction,
)
from warden.domain import Verdict
from warden.errors import ExecutorError
from warden.execute.executors._slack_blocks import (
    STATUS_BLOCK_ID,
    notice_message,
    with_status,
)
from warden.execute.executors.slack import SlackNotifier, alert_excerpt

DECISION = {"outcome": "needs_approval", "action": {
    "name": "rollback", "service": "checkout-web", "params": {"version": "v1.2.3"}},
    "reasons": [{"code": "approval_required", "detail": "rollback always needs a human"}]}


def notice(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "text": "[Warden] incident #7 on checkout-web: rollback waits for approval",
        "kind": "policy.decided",
        "incident": {"id": 7, "service": "checkout-web", "tier": "standard",
                     "title": "Errors after deploy", "severity": "high"},
        "decision": DECISION,
        "decision_digest": "5f0e1d2c3b4a6978",
        "proposal": {"category": "unknown", "severity": "high",
                     "root_cause": "deploy v1.2.4 broke <b>checkout</b> & cart"},
        "approval": {"state": "pending", "expires_at": "2026-11-26T18:00:00+00:00",
                     "approvers": ["alice", "bob"], "needed": 1},
        "event": DECISION,
        "alert_excerpt": alert_excerpt({"title": "Errors after deploy", "note": "<!channel>"}),
    }
    payload.update(changes)
    return payload


def test_a_request_escapes_what_the_alert_and_the_model_wrote() -> None:
    message = notice_message(notice(), console_url="https://w.example/incidents/7")
    text = str(message.blocks)
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "&lt;b&gt;checkout&lt;/b&gt; &amp; cart" in text
    assert "version=v1.2.3" in text
    assert "<https://w.example/incidents/7|Open in the Warden console>" in text


def test_evidence_is_one_escaped_line_an_item() -> None:
    lines = ["Prometheus: q > 100: now 150, min 5, max 150",
             "Similar past incidents (rare on checkout-web: 1 of 40 incidents in 30 days): "
             "#3 'Errors after deploy <!here>' (same alert)"]
    blocks = notice_message(notice(evidence=lines), console_url="https://w/i/7").blocks
    (section,) = [b["text"]["text"] for b in blocks
                  if b.get("text", {}).get("text", "").startswith("*Evidence")]
    assert section.splitlines() == [
        "*Evidence (Warden's own reads)*",
        "• Prometheus: q &gt; 100: now 150, min 5, max 150",
        "• Similar past incidents (rare on checkout-web: 1 of 40 incidents in 30 days): "
        "#3 'Errors after deploy &lt;!here&gt;' (same alert)"]
    assert "Evidence" not in str(notice_message(notice(), console_url="https://w").blocks)


def test_only_a_pending_request_has_buttons() -> None:
    for changes in ({"approval": {"state": "approved"}}, {"kind": "approval.expired"},
                    {"kind": "policy.decided", "event": {"outcome": "blocked"},
                     "approval": {"state": None}}):
        blocks = notice_message(notice(**changes), console_url="u").blocks
        assert "actions" not in [b["type"] for b in blocks], changes
    blocks = notice_message(notice(), console_url="u").blocks
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert {e["value"] for e in actions["elements"]} == {button_value(7, "5f0e1d2c3b4a6978")}


def test_long_texts_fit_slack_limits() -> None:
    huge = {"blob": "x" * 50_000}
    payload = notice(text="y" * 10_000, alert_excerpt=alert_excerpt(huge),
                     proposal={"root_cause": "z" * 10_000})
    message = notice_message(payload, console_url="u")
    for block in message.blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
    assert len(message.blocks[0]["text"]["text"]) <= 150
    assert "more characters in the console" in alert_excerpt(huge)


def test_a_status_line_replaces_the_last_one_and_a_final_one_drops_the_buttons() -> None:
    blocks = list(notice_message(notice(), console_url="u").blocks)
    once = with_status(blocks, "Approved by alice (1 of 2 needed)", final=False)
    twice = with_status(once, "Approved by alice, carol <done>", final=True)
    assert [b["type"] for b in once][-2:] == ["section", "actions"]
    statuses = [b for b in twice if b.get("block_id") == STATUS_BLOCK_ID]
    assert [s["text"]["text"] for s in statuses] == ["Approved by alice, carol &lt;done&gt;"]
    assert "actions" not in [b["type"] for b in twice]


def clicked(action_id: str = APPROVE_ACTION_ID, user_id: str = "U0ALICE") -> dict[str, Any]:
    message = PostedMessage("C0ONCALL", "1795714811.000100", "t",
                            list(notice_message(notice(), console_url="u").blocks))
    return block_actions(message, action_id, user_id=user_id,
                         response_url="https://hooks.slack.com/actions/T0/1/x")


USERS = {"U0ALICE": "alice"}


def test_a_click_reads_as_a_vote() -> None:
    vote = read_interaction(clicked(REJECT_ACTION_ID), users=USERS)
    assert isinstance(vote, SlackVote)
    assert (vote.incident_id, vote.verdict, vote.approver, vote.slack_user) == (
        7, Verdict.REJECT, "alice", "U0ALICE")
    assert (vote.channel_id, vote.message_ts) == ("C0ONCALL", "1795714811.000100")
    assert vote.response_url == "https://hooks.slack.com/actions/T0/1/x"


def _with(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**payload, **changes}


@pytest.mark.parametrize("payload, why", [
    (clicked(user_id="U0NOBODY"), "not mapped to a Warden approver"),
    (_with(clicked(), type="view_submission"), "only handles its Approve and Reject"),
    (_with(clicked(), actions=[{"action_id": "other", "value": "7:abc"}]),
     "only handles its Approve and Reject"),
    (_with(clicked(), actions=[{"action_id": APPROVE_ACTION_ID, "value": "seven"}]),
     "does not name an incident"),
    (_with(clicked(), actions=[]), "only handles"),
    (_with(clicked(), user="U0ALICE"), "not mapped"),
    ("not an object", "not a JSON object"),
    (None, "not a JSON object"),
])
def test_clicks_that_record_nothing(payload: Any, why: str) -> None:
    refused = read_interaction(payload, users=USERS)
    assert isinstance(refused, Refused)
    assert why in refused.reason


def notifier(slack: FakeSlackServer, token: str = BOT_TOKEN) -> SlackNotifier:
    return SlackNotifier(token=token, api_url=slack.api_url, timeout_s=2, public_url="u",
                         default_channel="C0ONCALL",
                         channels={"checkout-web": "C0CHECKOUT", "critical": "C0CRIT"},
                         tier_of=lambda service: "critical" if service == "pay" else "standard")


def test_channels_by_service_then_tier_then_default(slack_server: FakeSlackServer) -> None:
    client = notifier(slack_server)
    assert client.channel_for("checkout-web", "critical") == "C0CHECKOUT"
    assert client.channel_for("pay") == "C0CRIT"
    assert client.channel_for("search-api") == "C0ONCALL"


def test_slack_errors_become_results_or_retryable_errors(
    slack_server: FakeSlackServer
) -> None:
    assert notifier(slack_server).announce(notice()).ok
    refused = notifier(slack_server, token="xoxb-wrong").announce(notice())
    assert (refused.ok, refused.output) == (False, "slack chat.postMessage: invalid_auth")
    slack_server.fail_next("chat.postMessage", "channel_not_found")
    assert not notifier(slack_server).announce(notice()).ok
    slack_server.fail_next("chat.postMessage", "ratelimited")
    with pytest.raises(ExecutorError) as limited:
        notifier(slack_server).announce(notice())
    assert limited.value.recoverable


def test_an_unreachable_slack_is_a_retryable_error() -> None:
    client = SlackNotifier(token=BOT_TOKEN, api_url="http://127.0.0.1:9/api/", timeout_s=1,
                           public_url="u", default_channel="C0", channels={})
    with pytest.raises(ExecutorError) as failed:
        client.announce(notice())
    assert failed.value.recoverable
