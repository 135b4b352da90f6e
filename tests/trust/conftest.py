"""Fixtures of the trust-ladder tests: the end-to-end stack and the fake Slack (the
browser is the session's, in tests/conftest.py)."""

from tests.e2e.stack import stack
from tests.slack.conftest import slack_server, slack_warden

__all__ = ["slack_server", "slack_warden", "stack"]
