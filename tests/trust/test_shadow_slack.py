"""A shadow decision asks for a verdict in Slack too, saying that nothing will run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import RunningWarden
from tests.fakes.slack_server import FakeSlackServer
from warden.execute.executors._slack_blocks import APPROVE_ACTION_ID
from warden.words import SHADOW_NOTE

SHADOW_POLICY = """
version: 1
mode: live
services:
  "*": {tier: standard}
actions:
  clear_cache:
    auto_tiers: [standard]
    shadow: true
    executor: {type: notify, message: "cache of {service} cleared"}
approvers:
  standard: [alice, bob]
"""


def test_slack_asks_for_a_shadow_verdict_and_says_nothing_will_run(
    slack_warden: Callable[..., RunningWarden], slack_server: FakeSlackServer,
    tmp_path: Path,
) -> None:
    policy = tmp_path / "shadow.yaml"
    policy.write_text(SHADOW_POLICY, encoding="utf-8")
    running = slack_warden(policy=str(policy))
    with running.client() as client:
        response = client.post("/v1/alerts/generic", json={
            "service": "checkout-web", "title": "Redis cache memory at 97%"})
    assert response.status_code == 202, response.text

    slack_server.wait_for(lambda: bool(slack_server.messages))
    [message] = slack_server.messages
    assert SHADOW_NOTE in message.text
    assert SHADOW_NOTE in message.all_text()
    # The policy would run it by itself, yet the approvers are asked for their verdict.
    assert message.button(APPROVE_ACTION_ID)["value"]
    # Nothing ran: the notify executor of the shadow action posted nothing of its own.
    assert not any("cache of checkout-web cleared" in m.text for m in slack_server.messages)
