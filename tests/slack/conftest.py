"""Fixtures for the Slack tests: the fake Slack, and a Warden wired to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningWarden
from tests.fakes.slack_server import BOT_TOKEN, FakeSlackServer

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PUBLIC_URL = "https://warden.example.test"
ONCALL = "C0ONCALL"
CRITICAL_ONCALL = "C0CRITICAL"
ALERTS = "C0ALERTS"
SELZEE_BOT = "B0SELZEE"

# standard: one approver; critical: two; restricted: approvals count only where the raw
# alert is shown in full (the console) or typed by hand (the CLI), never from Slack.
POLICY = """
version: 1
mode: dry_run
services:
  payment-gateway: {tier: critical}
  vault: {tier: restricted}
  "*": {tier: standard}
actions:
  clear_cache:
    approval_tiers: [standard, critical, restricted]
    executor: {type: notify, message: "cache of {service} cleared"}
approvers:
  standard: [alice, bob]
  critical: [alice, carol]
  restricted: [alice, carol]
  critical_quorum: 2
approval_channels:
  restricted: [console, cli]
"""


@pytest.fixture
def slack_server() -> Iterator[FakeSlackServer]:
    with FakeSlackServer() as server:
        yield server


@pytest.fixture
def slack_warden(
    warden_server: Callable[..., RunningWarden], slack_server: FakeSlackServer,
    tmp_path: Path,
) -> Callable[..., RunningWarden]:
    """Start a Warden whose Slack is ``slack_server``, with the policy above."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")

    def start(**overrides: Any) -> RunningWarden:
        settings: dict[str, Any] = {
            "policy": str(policy),
            "public_url": PUBLIC_URL,
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack_server.api_url,
            "slack_users": "U0ALICE:alice,U0CAROL:carol,U0BOB:bob,U0MALLORY:mallory",
            "slack_channel": ONCALL,
            "slack_channels": f"critical:{CRITICAL_ONCALL}",
            "slack_alert_channels": ALERTS,
            "slack_alert_bot_ids": SELZEE_BOT,
            "worker_poll_s": 0.05,
            **overrides,
        }
        return warden_server(**settings)

    return start
