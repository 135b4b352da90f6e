"""The console in a real browser (Debian's chromium driven by Playwright) against a real
Warden: the live list, the raw-alert gate on Approve, approving and being refused.

Screenshots of the list and the detail page land in ``test-artifacts/``.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import RunningWarden
from tests.web.conftest import (
    TOKENS,
    TargetServer,
    cache_alert,
    incident_json,
    post_alert,
    screenshot,
    wait_pending_approval,
)

pytestmark = pytest.mark.browser


def sign_in(page: Any, running: RunningWarden, user: str, *, next_path: str) -> None:
    page.goto(f"{running.url}/login?next={next_path}")
    page.get_by_test_id("login-token").fill(TOKENS[user])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(user)


def read_raw_to_end(page: Any) -> None:
    """Open the raw alerts and go to their end with the keyboard, as an engineer might."""
    page.get_by_test_id("raw-alert").locator("summary").click()
    page.locator("#raw-scroll").focus()
    page.keyboard.press("End")
    expect(page.get_by_test_id("approve-button")).to_be_enabled()


def test_the_list_shows_a_new_incident_without_a_reload(console: RunningWarden,
                                                        page: Any) -> None:
    sign_in(page, console, "dave", next_path="/")  # reads need a session once tokens exist
    expect(page.get_by_test_id("incident-row")).to_have_count(0)
    page.evaluate("window.sameDocument = true")

    incident_id = post_alert(console, cache_alert())
    row = page.locator(f"[data-testid='incident-row'][data-incident-id='{incident_id}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("checkout-web")
    expect(row).to_contain_text("standard")
    # The next refreshes bring the triage result in, still without a reload.
    expect(row).to_contain_text("needs approval")
    expect(row).to_contain_text("resource_exhaustion")
    assert page.evaluate("window.sameDocument") is True

    post_alert(console, {"service": "search-api", "title": "p99 latency above 2s"})
    expect(page.get_by_test_id("incident-row")).to_have_count(2)
    screenshot(page, "console-incidents.png")

    # Filtering by keyboard: type a service, press Enter.
    page.get_by_label("Service").fill("search-api")
    page.get_by_label("Service").press("Enter")
    expect(page.get_by_test_id("incident-row")).to_have_count(1)
    expect(page.get_by_test_id("incident-row")).to_contain_text("search-api")


def test_approve_stays_disabled_until_the_raw_alerts_are_opened_and_scrolled(
    console: RunningWarden, page: Any,
) -> None:
    incident_id = post_alert(console, cache_alert(extra_labels=120))
    wait_pending_approval(console, incident_id)
    sign_in(page, console, "alice", next_path=f"/incidents/{incident_id}")

    approve = page.get_by_test_id("approve-button")
    why = page.locator("#approve-why")
    expect(approve).to_be_disabled()
    expect(why).to_contain_text("disabled until you have opened the raw alert payloads")
    expect(page.get_by_test_id("reject-button")).to_be_enabled()
    expect(page.get_by_test_id("decision-reasons")).to_contain_text(
        "The policy wants a human to approve this action")

    page.get_by_test_id("approval-reason").fill("Evictions match the memory graph")
    expect(approve).to_be_disabled()

    page.get_by_test_id("raw-alert").locator("summary").click()
    scroller = page.locator("#raw-scroll")
    expect(scroller).to_be_visible()
    assert scroller.evaluate("e => e.scrollHeight > e.clientHeight + 100"), "must scroll"
    expect(approve).to_be_disabled()
    expect(why).to_contain_text("until you scroll the raw alert payloads to the end")

    scroller.evaluate("e => { e.scrollTop = e.scrollHeight / 2; }")
    page.wait_for_function("document.getElementById('raw-scroll').scrollTop > 0")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
    expect(approve).to_be_disabled()
    screenshot(page, "console-incident.png")

    scroller.focus()
    page.keyboard.press("End")
    expect(approve).to_be_enabled()
    expect(why).to_contain_text("Approve is enabled")


def test_opening_raw_alerts_too_short_to_scroll_counts_as_read(console: RunningWarden,
                                                               page: Any) -> None:
    incident_id = post_alert(console, {"service": "cart-api",
                                       "title": "Redis cache out of memory"})
    wait_pending_approval(console, incident_id)
    sign_in(page, console, "alice", next_path=f"/incidents/{incident_id}")
    approve = page.get_by_test_id("approve-button")
    expect(approve).to_be_disabled()
    page.get_by_test_id("raw-alert").locator("summary").click()
    assert page.locator("#raw-scroll").evaluate("e => e.scrollHeight <= e.clientHeight")
    expect(approve).to_be_enabled()


def test_an_approval_from_the_page_runs_the_action_once(
    console: RunningWarden, target: TargetServer, page: Any,
) -> None:
    incident_id = post_alert(console, cache_alert(extra_labels=60))
    wait_pending_approval(console, incident_id)
    sign_in(page, console, "alice", next_path=f"/incidents/{incident_id}")
    read_raw_to_end(page)
    page.get_by_test_id("approval-reason").fill("Evictions match the memory graph")
    form = {"verdict": "approve", "reason": "again", "raw_reviewed": "1",
            "csrf": page.locator("input[name='csrf']").first.input_value(),
            "decision_digest": page.locator("input[name='decision_digest']").input_value()}
    page.get_by_test_id("approve-button").click()
    expect(page.get_by_role("status")).to_contain_text("Your approval was recorded")

    console.wait_for(lambda: len(target.hits()) >= 1, timeout_s=15)
    console.wait_for(lambda: incident_json(console, incident_id)["pending_step"] is None,
                     timeout_s=15)
    # Sending the form once more (a double click, a resubmit) changes nothing.
    again = page.request.post(f"{console.url}/incidents/{incident_id}/decide", form=form,
                              max_redirects=0)
    assert again.status == 409
    assert target.hits() == ["/cache/checkout-web/clear"]

    body = incident_json(console, incident_id)
    assert body["approval_state"] == "approved"
    assert [(a["approver"], a["verdict"], a["channel"]) for a in body["approvals"]] == [
        ("alice", "approve", "console")]
    page.reload()
    expect(page.get_by_test_id("execution")).to_have_count(1)
    expect(page.get_by_test_id("execution")).to_contain_text("succeeded")
    expect(page.get_by_test_id("execution")).to_contain_text("after approval")
    expect(page.get_by_test_id("approval-row")).to_contain_text("Evictions match")
    expect(page.get_by_test_id("approve-button")).to_have_count(0)
    screenshot(page, "console-incident-approved.png")
    link = page.get_by_test_id("postmortem-link").get_attribute("href")
    report = page.request.get(f"{console.url}{link}")
    assert report.ok and "alice" in report.text()


def test_a_non_approver_cannot_approve(console: RunningWarden, target: TargetServer,
                                       page: Any) -> None:
    incident_id = post_alert(console, cache_alert())
    wait_pending_approval(console, incident_id)
    sign_in(page, console, "dave", next_path=f"/incidents/{incident_id}")
    expect(page.get_by_text("are not among the approvers")).to_be_visible()

    read_raw_to_end(page)
    page.get_by_test_id("approval-reason").fill("I think it is fine")
    page.get_by_test_id("approve-button").click()
    expect(page.get_by_test_id("approval-error")).to_contain_text("is not an approver")

    body = incident_json(console, incident_id)
    assert body["approvals"] == []
    assert body["approval_state"] == "pending" and body["executions"] == []
    assert target.hits() == []
