"""The trust ladder's console pages in a real browser (Debian's chromium via Playwright):
an admin uploads a policy and sees what it would change; anyone signed in sees the
agreement figures; a non-admin cannot replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import RunningWarden
from tests.e2e.stack import TOKENS, Stack, clear_cache
from tests.web.conftest import csrf_of, screenshot
from tests.web.conftest import sign_in as form_sign_in

pytestmark = pytest.mark.browser


def sign_in(page: Any, running: RunningWarden, user: str, *, next_path: str) -> None:
    page.goto(f"{running.url}/login?next={next_path}")
    page.get_by_test_id("login-token").fill(TOKENS[user])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(user)


def test_an_admin_replays_an_uploaded_policy_and_reads_the_figures(
    stack: Stack, page: Any, tmp_path: Path
) -> None:
    running = stack.start()
    executed = stack.alert(running, "checkout-web", "cb-1", clear_cache("checkout-web"))
    stack.settled(running, executed, lambda i: bool(i["executions"]))
    hits = len(stack.target.requests())
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(stack.policy_file.read_text().replace(
        "    auto_tiers: [standard]\n    approval_tiers: [critical]\n",
        "    auto_tiers: []\n    approval_tiers: [standard, critical]\n", 1))

    sign_in(page, running, "bob", next_path="/policy")
    page.get_by_role("link", name="Replay a new policy over the recorded decisions").click()
    page.get_by_test_id("policy-file").set_input_files(str(stricter))
    page.get_by_test_id("replay-submit").click()
    expect(page.get_by_test_id("replay-summary")).to_contain_text(
        "2 decisions replayed; 2 would change")
    expect(page.get_by_test_id("replay-summary")).to_contain_text("execute->needs_approval 2")
    expect(page.get_by_test_id("replay-change")).to_have_count(2)
    expect(page.get_by_test_id("replay-change").first).to_contain_text(f"#{executed}")
    screenshot(page, "policy-replay.png")
    assert len(stack.target.requests()) == hits  # replay ran nothing

    # A file that is not a policy is refused with the reason, and nothing replayed.
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nmode: sometimes\n")
    page.get_by_test_id("policy-file").set_input_files(str(broken))
    page.get_by_test_id("replay-submit").click()
    expect(page.get_by_test_id("replay-error")).to_contain_text("Nothing was replayed")
    expect(page.get_by_test_id("replay-error")).to_contain_text("mode")

    page.get_by_role("link", name="Trust").click()
    row = page.get_by_test_id("agreement-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("clear_cache")
    expect(row).to_contain_text("m1")
    screenshot(page, "trust.png")


def test_replay_is_for_admins_only(stack: Stack, page: Any) -> None:
    running = stack.start()
    sign_in(page, running, "alice", next_path="/policy/replay")  # an approver, not an admin
    expect(page.get_by_text("Replay is for admins")).to_be_visible()
    expect(page.get_by_test_id("policy-file")).to_have_count(0)
    # Nor does a form sent by hand get through.
    with running.client() as client:
        form_sign_in(client, TOKENS["alice"])
        page_html = client.get("/policy/replay").text
        refused = client.post("/policy/replay", data={"csrf": csrf_of(page_html)},
                              files={"policy": ("p.yaml", stack.policy_file.read_bytes())})
    assert refused.status_code == 403
    assert "Replay needs a signed-in admin" in refused.text
