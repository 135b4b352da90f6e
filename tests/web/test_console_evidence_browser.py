"""The console shows the incident's evidence (issue 18), in a real browser: below the raw
alerts, above the proposal, each item with its source and when it was collected."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import RunningWarden
from tests.web.conftest import cache_alert, post_alert, screenshot, wait_pending_approval
from tests.web.test_console_browser import sign_in

pytestmark = pytest.mark.browser


def test_evidence_sits_between_the_raw_alerts_and_the_proposal(console: RunningWarden,
                                                               page: Any) -> None:
    earlier = post_alert(console, cache_alert("checkout-web",
                                              title="Redis cache out of memory on shard 2"))
    wait_pending_approval(console, earlier)
    incident_id = post_alert(console, cache_alert())
    wait_pending_approval(console, incident_id)

    sign_in(page, console, "dave", next_path=f"/incidents/{incident_id}")
    evidence = page.get_by_test_id("evidence")
    item = evidence.get_by_test_id("evidence-item")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-kind", "similar_incidents")
    expect(item).to_contain_text("Similar past incidents")
    expect(item).to_contain_text(f"#{earlier} 'Redis cache out of memory on shard 2' "
                                 "(similar text")
    expect(item).to_contain_text("Source: Warden's store")
    expect(evidence).to_contain_text("collected")

    raw = page.get_by_test_id("raw-alert").bounding_box()
    shown = evidence.bounding_box()
    proposal = page.locator("#proposal-heading").bounding_box()
    assert raw["y"] < shown["y"] < proposal["y"]
    screenshot(page, "incident-evidence.png")
