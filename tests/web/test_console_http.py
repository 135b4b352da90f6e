"""The console over plain HTTP: sign-in and its cookie, CSRF, refusals, escaping, the pages.

What a browser test would only show slowly (headers, cookie flags, forged forms) is
checked here with httpx against a real Warden.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import RunningWarden, start_warden
from tests.web.conftest import (
    TOKENS,
    TargetServer,
    cache_alert,
    csrf_of,
    digest_of,
    incident_json,
    post_alert,
    sign_in,
    wait_pending_approval,
)
from warden.config import Settings
from warden.store.tables import FreezeRow, IncidentRow, LedgerRow


def test_pages_render_with_protective_headers(console: RunningWarden) -> None:
    incident_id = post_alert(console, cache_alert())
    with console.client() as client:
        sign_in(client, TOKENS["dave"])
        for path in ("/", f"/incidents/{incident_id}", "/cost", "/policy", "/login",
                     "/fragments/incidents"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert response.headers["content-type"].startswith("text/html")
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert response.headers["x-frame-options"] == "DENY"
        assert client.get("/static/console.js").status_code == 200
        assert client.get("/incidents/999").status_code == 404


def test_login_sets_a_signed_http_only_strict_cookie_never_the_token(
    console: RunningWarden,
) -> None:
    with console.client() as client:
        response = sign_in(client, TOKENS["alice"], next_path="/policy")
        assert response.status_code == 303
        assert response.headers["location"] == "/policy"
        cookie = next(c for c in response.headers.get_list("set-cookie")
                      if c.startswith("warden_session="))
        flags = cookie.lower()
        assert "httponly" in flags and "samesite=strict" in flags and "secure" not in flags
        assert TOKENS["alice"] not in cookie
        assert 'data-testid="signed-in-user">alice<' in client.get("/").text


def test_the_cookie_is_secure_behind_an_https_proxy(console: RunningWarden) -> None:
    https = {"x-forwarded-proto": "https"}
    with console.client() as client:
        form = client.get("/login", headers=https)
        login_cookie = next(c for c in form.headers.get_list("set-cookie")
                            if c.startswith("warden_login="))
        assert "secure" in login_cookie.lower()
        # httpx keeps Secure cookies off plain http; the browser behind the proxy sends it.
        response = client.post(
            "/login", headers={**https, "cookie": login_cookie.split(";")[0]},
            data={"token": TOKENS["alice"], "csrf": csrf_of(form.text), "next": "/"})
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith("warden_session="))
    assert "secure" in cookie.lower()


def test_login_refuses_unknown_tokens_forged_forms_and_foreign_redirects(
    console: RunningWarden,
) -> None:
    with console.client() as client:
        wrong = sign_in(client, "not-a-token")
        assert wrong.status_code == 401
        assert "warden_session" not in client.cookies
        assert "does not belong to anyone" in wrong.text

        # No login-form cookie: another site posting a login form is refused.
        with console.client() as other:
            forged = other.post("/login", data={"token": TOKENS["alice"], "csrf": "x"})
        assert forged.status_code == 403

        away = sign_in(client, TOKENS["alice"], next_path="//evil.example/")
        assert away.status_code == 303 and away.headers["location"] == "/"


def test_a_made_up_or_signed_out_cookie_opens_nothing(console: RunningWarden) -> None:
    with console.client() as client:
        sign_in(client, TOKENS["dave"])
        old = client.cookies["warden_session"]
        page = client.get("/").text
        assert 'data-testid="signed-in-user">dave<' in page
        signed_out = client.post("/logout", data={"csrf": csrf_of(page)})
        assert signed_out.status_code == 303
    for cookie in (old, old[:-2] + "xx", "A" * 43):
        with console.client(cookies={"warden_session": cookie}) as replay:
            response = replay.get("/")
            assert response.status_code == 303, cookie
            assert response.headers["location"] == "/login?next=/"
            assert replay.get("/v1/incidents").status_code == 401


def test_sessions_end_when_the_users_token_changes(
    warden_server: Callable[..., RunningWarden], sqlite_url: str,
) -> None:
    common: dict[str, Any] = {"database_url": sqlite_url, "worker_enabled": False}
    first = warden_server(api_tokens="alice:old-token", **common)
    with first.client() as client:
        sign_in(client, "old-token")
        cookie = client.cookies["warden_session"]
    same = warden_server(api_tokens="alice:old-token", **common)
    rotated = warden_server(api_tokens="alice:new-token", **common)
    for running, signed_in in ((same, True), (rotated, False)):
        with running.client(cookies={"warden_session": cookie}) as client:
            assert (client.get("/").status_code == 200) is signed_in


def test_decide_needs_a_session_and_its_csrf_token(console: RunningWarden,
                                                   target: TargetServer) -> None:
    incident_id = post_alert(console, cache_alert())
    wait_pending_approval(console, incident_id)
    form = {"verdict": "approve", "reason": "cache is full", "raw_reviewed": "1"}
    with console.client() as anonymous:
        response = anonymous.post(f"/incidents/{incident_id}/decide", data=form)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    with console.client() as client:
        sign_in(client, TOKENS["alice"])
        forged = client.post(f"/incidents/{incident_id}/decide",
                             data={**form, "csrf": "guessed"})
        assert forged.status_code == 403
        assert "security token did not match" in forged.text
        # Approving without having opened the raw alerts (as the page records it) is refused.
        page = client.get(f"/incidents/{incident_id}").text
        csrf = csrf_of(page)
        form["decision_digest"] = digest_of(page)
        unread = client.post(f"/incidents/{incident_id}/decide",
                             data={**form, "raw_reviewed": "", "csrf": csrf})
        assert unread.status_code == 400
        no_reason = client.post(f"/incidents/{incident_id}/decide",
                                data={**form, "reason": "  ", "csrf": csrf})
        assert no_reason.status_code == 400
    body = incident_json(console, incident_id)
    assert body["approvals"] == [] and body["approval_state"] == "pending"
    assert target.hits() == []


def test_a_non_approver_is_refused_by_the_approval_stage(console: RunningWarden,
                                                         target: TargetServer) -> None:
    incident_id = post_alert(console, cache_alert())
    wait_pending_approval(console, incident_id)
    with console.client() as client:
        sign_in(client, TOKENS["dave"])
        page = client.get(f"/incidents/{incident_id}").text
        assert "not among the approvers" in page
        refused = client.post(f"/incidents/{incident_id}/decide", data={
            "verdict": "approve", "reason": "looks fine", "raw_reviewed": "1",
            "csrf": csrf_of(page), "decision_digest": digest_of(page)})
    assert refused.status_code == 403
    assert "is not an approver" in refused.text
    body = incident_json(console, incident_id)
    assert body["approvals"] == [] and body["approval_state"] == "pending"
    assert target.hits() == []


def test_a_rejection_from_the_console_is_recorded_and_nothing_runs(
    console: RunningWarden, target: TargetServer,
) -> None:
    incident_id = post_alert(console, cache_alert())
    wait_pending_approval(console, incident_id)
    with console.client() as client:
        sign_in(client, TOKENS["alice"])
        page = client.get(f"/incidents/{incident_id}").text
        done = client.post(f"/incidents/{incident_id}/decide",
                           data={"verdict": "reject", "reason": "not the cache",
                                 "csrf": csrf_of(page), "decision_digest": digest_of(page)})
        assert done.status_code == 303
        assert "Your rejection was recorded" in client.get(done.headers["location"]).text
    body = incident_json(console, incident_id)
    assert body["approval_state"] == "rejected"
    assert [(a["approver"], a["verdict"], a["channel"], a["reason"]) for a in body["approvals"]] \
        == [("alice", "reject", "console", "not the cache")]
    assert target.hits() == []


def test_alert_text_is_escaped(warden_server: Callable[..., RunningWarden]) -> None:
    running = warden_server(worker_enabled=False)
    incident_id = post_alert(running, {"service": "checkout-web",
                                       "title": "<script>alert('x')</script>",
                                       "labels": {"note": "<img src=x onerror=alert(1)>"}})
    with running.client() as client:
        for path in ("/", f"/incidents/{incident_id}"):
            html = client.get(path).text
            assert "<script>alert" not in html and "<img src=x" not in html
            assert "&lt;script&gt;" in html


def test_filters_and_the_live_fragment(warden_server: Callable[..., RunningWarden]) -> None:
    running = warden_server(worker_enabled=False)
    first = post_alert(running, {"service": "checkout-web", "title": "Disk almost full"})
    second = post_alert(running, {"service": "search-api", "title": "p99 latency high"})
    with running.warden.store.session() as session:
        row = session.get(IncidentRow, first)
        assert row is not None
        row.status, row.resolved_at = "resolved", datetime.now(UTC)
    with running.client() as client:
        everything = client.get("/fragments/incidents")
        assert everything.headers["x-incidents-total"] == "2"
        assert everything.text.count('data-testid="incident-row"') == 2
        # Newest first.
        assert everything.text.index(f'data-incident-id="{second}"') < \
            everything.text.index(f'data-incident-id="{first}"')
        open_only = client.get("/fragments/incidents", params={"status": "open"}).text
        assert f'data-incident-id="{second}"' in open_only
        assert f'data-incident-id="{first}"' not in open_only
        by_service = client.get("/", params={"service": "checkout-web", "status": ""}).text
        assert by_service.count('data-testid="incident-row"') == 1
        assert "search-api" in client.get("/").text  # offered in the service filter too


def test_cost_page_sums_today_and_month_by_model_and_service(tmp_path: Path) -> None:
    now = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
    running = start_warden(
        Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", worker_enabled=False,
                 budget_daily_usd=1.0, budget_monthly_usd=20.0),
        clock=lambda: now,
    )
    try:
        with running.warden.store.session() as session:
            for at, model, service, usd in (
                (now, "openai/gpt-4o-mini", "checkout-web", 0.0125),
                (now - timedelta(hours=2), "anthropic/claude-3-haiku", "search-api", 0.02),
                (now - timedelta(days=3), "openai/gpt-4o-mini", "checkout-web", 0.5),
                (now - timedelta(days=20), "openai/gpt-4o-mini", "checkout-web", 9.0),
            ):
                session.add(LedgerRow(service=service, provider="openai", model=model,
                                      prompt_tokens=100, completion_tokens=20, cost_usd=usd,
                                      outcome="ok", at=at))
        with running.client() as client:
            html = client.get("/cost").text
    finally:
        running.stop()
    assert 'data-testid="cost-today">$0.0325<' in html
    assert 'data-testid="cost-month">$0.5325<' in html  # February's $9 is not this month
    assert "of the $1.00 daily budget" in html and "of the $20.00 monthly budget" in html
    assert "<svg" in html and html.count('class="bar') == 14  # March 1 to 14
    assert "anthropic/claude-3-haiku" in html and "search-api" in html


def test_policy_page_shows_the_rules_and_who_froze_what(console: RunningWarden) -> None:
    incident_id = post_alert(console, cache_alert())
    with console.warden.store.session() as session:
        session.add(FreezeRow(service="checkout-web", frozen_by="loop-breaker",
                              reason="re-alerted within the cooldown", incident_id=incident_id,
                              at=datetime.now(UTC)))
    with console.client() as client:
        sign_in(client, TOKENS["dave"])
        html = client.get("/policy").text
    assert "live</strong>" in html
    assert "clear_cache" in html and "/cache/{service}/clear" in html
    assert "payment-gateway" in html and "every other service" in html
    assert "alice, bob" in html
    assert "loop-breaker" in html and "re-alerted within the cooldown" in html
    assert f'href="/incidents/{incident_id}"' in html


def test_every_page_reads_both_stores(warden_server: Callable[..., RunningWarden],
                                      store_url: str) -> None:
    running = warden_server(database_url=store_url, worker_enabled=False)
    incident_id = post_alert(running, cache_alert())
    with running.warden.store.session() as session:
        session.add(LedgerRow(incident_id=incident_id, service="checkout-web", provider="openai",
                              model="openai/gpt-4o-mini", prompt_tokens=900,
                              completion_tokens=80, cost_usd=0.0042, outcome="ok",
                              at=datetime.now(UTC)))
        session.add(FreezeRow(service="checkout-web", frozen_by="carol", reason="by hand",
                              at=datetime.now(UTC)))
    with running.client() as client:
        pages = {path: client.get(path) for path in (
            "/", "/fragments/incidents", f"/incidents/{incident_id}", "/cost", "/policy")}
    assert all(r.status_code == 200 for r in pages.values())
    assert 'data-testid="cost-today">$0.0042<' in pages["/cost"].text
    assert "frozen by carol" in pages[f"/incidents/{incident_id}"].text
    assert "$0.0042" in pages[f"/incidents/{incident_id}"].text
