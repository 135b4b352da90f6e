"""Fixtures of the trust-ladder tests: the end-to-end stack, the console's browser, the
fake Slack."""

from tests.e2e.stack import stack
from tests.slack.conftest import slack_server, slack_warden
from tests.web.conftest import browser, page

__all__ = ["browser", "page", "slack_server", "slack_warden", "stack"]
