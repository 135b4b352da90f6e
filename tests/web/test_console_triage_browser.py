"""The console items of issue 20 in a real browser (Debian's chromium via Playwright)
against a real Warden: paging and search, whole rows clickable, acknowledge and resolve by
hand, times in the viewer's zone, dark mode, a phone-width screen, the post-mortem page,
the favicon and the sign-in page without tokens."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import RunningWarden
from tests.web.conftest import (
    cache_alert,
    incident_json,
    post_alert,
    screenshot,
    wait_pending_approval,
)
from tests.web.test_console_browser import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def context_of(browser: Any) -> Iterator[Callable[..., Any]]:
    """New browser pages with context options (viewport, time zone, colour scheme)."""
    contexts: list[Any] = []

    def open_page(**options: Any) -> Any:
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def rows(page: Any) -> Any:
    return page.get_by_test_id("incident-row")


def test_the_list_pages_and_searches(console: RunningWarden, page: Any) -> None:
    for n in range(52):
        post_alert(console, {"service": f"svc-{n:02d}", "title": f"disk full on node {n}"})
    post_alert(console, {"service": "Checkout-Web", "title": "Redis cache out of memory"})
    sign_in(page, console, "dave", next_path="/")

    expect(rows(page)).to_have_count(50)
    expect(page.locator("#incident-count")).to_have_text("Showing 50 of 53")
    page.get_by_test_id("page-older").click()
    expect(rows(page)).to_have_count(3)
    expect(rows(page).first).to_contain_text("svc-02")
    expect(page.get_by_test_id("page-older")).to_have_count(0)
    page.get_by_test_id("page-newer").click()
    expect(rows(page)).to_have_count(50)

    # Server-side, case-insensitive, over service and title; the live refresh keeps it.
    page.get_by_test_id("search").fill("checkout")
    page.get_by_test_id("search").press("Enter")
    expect(rows(page)).to_have_count(1)
    expect(rows(page)).to_contain_text("Checkout-Web")
    page.get_by_test_id("search").fill("SVC-1")
    page.get_by_test_id("search").press("Enter")
    expect(rows(page)).to_have_count(10)  # svc-10 to svc-19
    page.wait_for_timeout(3500)  # one live refresh later, still the same matches
    expect(rows(page)).to_have_count(10)
    assert "q=SVC-1" in page.url
    page.get_by_test_id("search").fill("redis MEMORY")  # words of the title
    page.get_by_test_id("search").press("Enter")
    expect(rows(page)).to_have_count(1)


def test_a_whole_row_opens_its_incident_and_the_title_stays_a_link(
    console: RunningWarden, page: Any,
) -> None:
    incident_id = post_alert(console, {"service": "search-api", "title": "p99 above 2s"})
    sign_in(page, console, "dave", next_path="/")
    row = rows(page).first
    row.locator("td").nth(2).click()  # the service cell, not the title
    expect(page).to_have_url(f"{console.url}/incidents/{incident_id}")

    page.go_back()
    link = rows(page).first.get_by_role("link", name=re.compile("p99 above 2s"))
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{console.url}/incidents/{incident_id}")


def test_acknowledge_and_resolve_by_hand(console: RunningWarden, page: Any) -> None:
    incident_id = post_alert(console, cache_alert())
    wait_pending_approval(console, incident_id)
    sign_in(page, console, "alice", next_path=f"/incidents/{incident_id}")

    page.get_by_test_id("acknowledge-button").click()
    expect(page.get_by_role("status")).to_contain_text("You acknowledged this incident")
    expect(page.get_by_test_id("acknowledged")).to_contain_text("acknowledged by alice at")
    expect(page.get_by_test_id("acknowledge-button")).to_have_count(0)
    screenshot(page, "console-acknowledged.png")
    page.goto(f"{console.url}/")
    expect(rows(page).first.get_by_test_id("acknowledged")).to_contain_text(
        "acknowledged by alice")

    page.goto(f"{console.url}/incidents/{incident_id}")
    page.get_by_test_id("resolve-button").click()
    expect(page.get_by_role("status")).to_contain_text("You resolved this incident")
    expect(page.locator(".facts .status-resolved")).to_have_text("resolved")
    expect(page.get_by_test_id("approval-state")).to_have_text("withdrawn")
    expect(page.get_by_test_id("approve-button")).to_have_count(0)
    expect(page.get_by_test_id("resolve-button")).to_have_count(0)
    timeline = page.locator("#timeline-heading ~ table tbody tr")
    expect(timeline.filter(has_text="incident.acknowledged")).to_contain_text("alice")
    expect(timeline.filter(has_text="incident.resolved")).to_contain_text("alice")
    assert incident_json(console, incident_id)["status"] == "resolved"


def test_a_foreign_form_cannot_resolve(console: RunningWarden, page: Any) -> None:
    incident_id = post_alert(console, {"service": "search-api", "title": "p99 above 2s"})
    sign_in(page, console, "alice", next_path=f"/incidents/{incident_id}")
    forged = page.request.post(f"{console.url}/incidents/{incident_id}/resolve",
                               form={"csrf": "not-the-token"}, max_redirects=0)
    assert forged.status == 403 and "security token did not match" in forged.text()
    assert incident_json(console, incident_id)["status"] == "open"


def test_times_show_in_the_viewers_zone_with_utc_on_hover(
    console: RunningWarden, context_of: Callable[..., Any],
) -> None:
    incident_id = post_alert(console, {"service": "search-api", "title": "p99 above 2s"})
    first_seen = incident_json(console, incident_id)["first_seen"]
    utc_hour = int(first_seen[11:13])
    page = context_of(timezone_id="Asia/Tokyo", locale="en-GB")
    sign_in(page, console, "dave", next_path=f"/incidents/{incident_id}")

    shown = page.locator(".facts time[data-local]").first
    expect(shown).to_contain_text(re.compile(r"GMT\+9|JST"))
    assert shown.get_attribute("title", timeout=1000).endswith(" UTC")
    assert f" {(utc_hour + 9) % 24:02d}:" in shown.inner_text()


def test_dark_mode_follows_the_system_setting(console: RunningWarden,
                                             context_of: Callable[..., Any]) -> None:
    background = "getComputedStyle(document.body).backgroundColor"
    light = context_of(color_scheme="light")
    sign_in(light, console, "dave", next_path="/")
    dark = context_of(color_scheme="dark")
    sign_in(dark, console, "dave", next_path="/")
    assert light.evaluate(background) == "rgb(255, 255, 255)"
    assert dark.evaluate(background) == "rgb(17, 22, 31)"
    screenshot(dark, "console-dark.png")


def test_at_phone_width_the_decision_is_on_screen(console: RunningWarden,
                                                 context_of: Callable[..., Any]) -> None:
    incident_id = post_alert(console, cache_alert(
        title="Redis cache out of memory on the primary checkout cluster"))
    wait_pending_approval(console, incident_id)
    page = context_of(viewport={"width": 390, "height": 844}, is_mobile=True)
    sign_in(page, console, "dave", next_path="/")
    decision = rows(page).first.locator("td.decision")
    expect(decision).to_contain_text("needs approval")
    box = decision.locator(".badge").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "console-phone.png")


def test_the_post_mortem_is_a_page_and_alert_text_stays_text(
    console: RunningWarden, page: Any,
) -> None:
    hostile = "<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold**"
    incident_id = post_alert(console, {"service": "search-api", "title": hostile})
    sign_in(page, console, "dave", next_path=f"/incidents/{incident_id}")
    page.get_by_test_id("postmortem-link").click()
    expect(page).to_have_url(f"{console.url}/incidents/{incident_id}/report")
    report = page.get_by_test_id("report")
    expect(report.locator("h1")).to_contain_text(f"Incident #{incident_id}")
    expect(report.locator("h2", has_text="Timeline")).to_be_visible()
    expect(report.locator("table").first).to_contain_text("search-api")
    assert "## Timeline" not in report.inner_text()
    expect(report.locator("img")).to_have_count(0)
    expect(report.locator("a[href^='javascript']")).to_have_count(0)
    expect(report).to_contain_text("<img src=x onerror=alert(1)>")


def test_the_favicon_is_served_without_signing_in(console: RunningWarden) -> None:
    with console.client() as client:
        icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")


def test_the_sign_in_page_says_when_no_tokens_are_configured(
    warden_server: Callable[..., RunningWarden], console: RunningWarden, page: Any,
) -> None:
    open_warden = warden_server()
    page.goto(f"{open_warden.url}/login")
    expect(page.get_by_test_id("no-tokens")).to_contain_text("Sign-in is not configured")
    expect(page.get_by_test_id("no-tokens")).to_contain_text("open to anyone")
    page.goto(f"{console.url}/login")
    expect(page.get_by_test_id("no-tokens")).to_have_count(0)
