"""The incident page's change timeline, in a real browser (Debian's chromium): what changed
on the service before the first alert, beside the raw alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import RunningWarden
from tests.web.conftest import post_alert, screenshot

pytestmark = pytest.mark.browser


def test_the_incident_page_shows_the_changes_before_its_first_alert(
    warden_server: Any, page: Any,
) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    now = datetime.now(UTC)
    with running.client() as client:
        for body in (
            {"service": "Checkout-Web", "version": "v2.4.1", "author": "ci-bot",
             "summary": "cart totals via <b>pricing</b>", "at": (now - timedelta(minutes=2))
             .isoformat(), "link": "https://ci.example.com/p/8812"},
            {"service": "checkout-web", "kind": "flag", "summary": "new-cart on",
             "at": (now - timedelta(minutes=40)).isoformat()},
            {"service": "search", "version": "v7.0.0", "at": now.isoformat()},
        ):
            assert client.post("/v1/changes/generic", json=body).status_code == 202
    incident_id = post_alert(running, {"service": "checkout-web",
                                       "title": "p99 latency above 2s"})
    quiet_id = post_alert(running, {"service": "billing", "title": "disk 95% full"})

    page.goto(f"{running.url}/incidents/{incident_id}")
    changes = page.get_by_test_id("change")
    expect(changes).to_have_count(2)
    newest = changes.nth(0)
    expect(newest).to_contain_text("v2.4.1")
    expect(newest).to_contain_text("2m before the first alert")
    expect(newest).to_contain_text("by ci-bot")
    expect(newest).to_contain_text("cart totals via <b>pricing</b>")  # text, not markup
    expect(newest.get_by_role("link", name="details")).to_have_attribute(
        "href", "https://ci.example.com/p/8812")
    expect(changes.nth(1)).to_contain_text("flag")
    expect(changes.nth(1)).to_contain_text("40m before the first alert")
    expect(page.get_by_test_id("changes")).not_to_contain_text("v7.0.0")
    screenshot(page, "console-incident-changes.png")

    page.goto(f"{running.url}/incidents/{quiet_id}")
    expect(page.get_by_test_id("changes")).to_contain_text(
        "No change recorded on billing in the 120 minutes before the first alert")
