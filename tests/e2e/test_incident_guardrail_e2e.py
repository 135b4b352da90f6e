"""The guardrail holds in the running system (issue 15, items 1 and 2): the policy judges
every alert of an incident, at triage and at the re-check, and counts and remembers a
service by its key, so no spelling of a name escapes a freeze or a cooldown.

Warden runs live on a real port (tests/e2e/stack.py); the model is the scripted fake and
the infrastructure a recording HTTP server on loopback: what it receives is what would
have run.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from tests.conftest import RunningWarden, start_warden
from tests.e2e.stack import Stack, clear_cache, stack
from tests.fakes.llm_server import proposal
from warden.store import AuditRow

__all__ = ["stack"]  # the fixture

SECURITY = """
security:
  labels: {team: [security]}
  patterns: ['(?i)\\b(account takeover|brute.?force)\\b']
"""


def _secured(stack: Stack, extra: str = "") -> None:
    stack.policy_file.write_text(stack.policy_file.read_text() + SECURITY + extra)


def _am_alert(name: str, summary: str, *, labels: dict[str, str] | None = None,
              description: str = "", severity: str = "warning") -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "service": "checkout-web", "severity": severity,
                   **(labels or {})},
        "annotations": {"summary": summary, "description": description},
        "startsAt": "2026-12-03T06:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": f"fp-{name.lower()}",
    }


def _post_group(running: RunningWarden, group: str, alerts: list[dict[str, Any]]) -> int:
    with running.client() as client:
        response = client.post("/v1/alerts/alertmanager", json={
            "version": "4", "groupKey": group, "status": "firing", "receiver": "warden",
            "alerts": alerts})
    assert response.status_code == 202, response.text
    [incident_id] = {a["incident_id"] for a in response.json()["alerts"]}
    return int(incident_id)


def _audit_kinds(stack: Stack, incident_id: int) -> list[str]:
    engine = create_engine(stack.database_url)
    with engine.connect() as conn:
        kinds = conn.execute(select(AuditRow.kind).where(AuditRow.incident_id == incident_id)
                             .order_by(AuditRow.id)).scalars().all()
    engine.dispose()
    return list(kinds)


SECURITY_ALERT = _am_alert("LoginFailuresHigh", "Login failures up 40x",
                           labels={"team": "security"},
                           description="possible account takeover from one ASN")


@pytest.mark.parametrize("position", [0, 1, 3], ids=["first", "middle", "last"])
def test_a_security_alert_anywhere_in_a_group_sends_it_to_a_human(
    stack: Stack, position: int,
) -> None:
    _secured(stack)
    running = stack.start()
    benign = [_am_alert("CheckoutLatencyHigh", "p99 latency 2.4s [grp]"),
              _am_alert("CacheHitRatioLow", "cache hit ratio 31%"),
              _am_alert("DiskAlmostFull", "disk 91% full")]
    group = list(benign)
    group.insert(position, SECURITY_ALERT)
    # The model sees the first alert's words and proposes the usual fix.
    stack.replies["checkout-web"] = clear_cache("checkout-web")
    incident_id = _post_group(running, f"{{}}:{{alertname=~\"{position}\"}}", group)

    waiting = stack.settled(running, incident_id, lambda i: i["approval_state"] == "pending")
    assert waiting["decision"]["outcome"] == "needs_approval"
    assert waiting["decision"]["reasons"][0]["code"] == "security_incident"
    assert waiting["executions"] == []
    time.sleep(0.3)
    assert stack.target.requests("/cache/checkout-web/clear") == []


class _Clock:
    """Warden's clock, moved forward by the test: a late repeat, after the cooldown."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_a_late_repeat_with_security_words_does_not_run_the_fix_again(stack: Stack) -> None:
    _secured(stack)
    clock = _Clock()
    running = start_warden(stack.settings(), clock=clock)
    stack.running.append(running)
    stack.replies["checkout-web"] = clear_cache("checkout-web")
    group = "{}:{alertname=\"late\"}"
    first = _am_alert("CheckoutLatencyHigh", "p99 latency 2.4s", severity="warning")
    incident_id = _post_group(running, group, [first])
    stack.settled(running, incident_id, lambda i: len(i["executions"]) == 1)
    assert len(stack.target.requests("/cache/checkout-web/clear")) == 1

    # Two hours on (past the cooldown and the hourly limits) the group is sent again with
    # a worse, security alert: the incident escalates and is triaged again.
    clock.offset = timedelta(hours=2)
    repeat = _am_alert("LoginFailuresHigh", "Login failures up 40x", severity="critical",
                       description="possible account takeover from one ASN")
    assert _post_group(running, group, [first, repeat]) == incident_id
    again = stack.settled(running, incident_id, lambda i: i["approval_state"] == "pending")
    assert again["decision"]["reasons"][0]["code"] == "security_incident"
    assert "alert 2 of 2" in again["decision"]["reasons"][0]["detail"]
    time.sleep(0.3)
    assert len(stack.target.requests("/cache/checkout-web/clear")) == 1


def _restart(service: str) -> str:
    return proposal(category="connectivity", action="restart_canary", service=service)


def test_a_case_variant_of_a_frozen_service_is_frozen_too(stack: Stack) -> None:
    stack.target.respond("/health/search-api", 503)
    running = stack.start()
    first = stack.alert(running, "search-api", "frz-1", _restart("search-api"))
    stack.settled(running, first,
                  lambda i: bool(i["executions"]) and i["executions"][0]["verification"])
    assert len(stack.target.requests("/restart/search-api")) == 1  # and now it is frozen

    for spelling, marker in (("Search-API", "frz-2"), ("SEARCH-api", "frz-3")):
        other = stack.alert(running, spelling, marker, _restart(spelling))
        waiting = stack.settled(running, other, lambda i: i["approval_state"] == "pending")
        assert waiting["decision"]["reasons"][0]["code"] == "loop_breaker", spelling
        assert "frozen" in waiting["decision"]["reasons"][0]["detail"]
    time.sleep(0.3)
    restarts = [r.path for r in stack.target.requests() if r.path.startswith("/restart/")]
    assert restarts == ["/restart/search-api"]


def test_a_case_variant_of_a_service_in_cooldown_waits(stack: Stack) -> None:
    running = stack.start()
    first = stack.alert(running, "inventory-sync", "cd-1", clear_cache("inventory-sync"))
    stack.settled(running, first, lambda i: len(i["executions"]) == 1)

    second = stack.alert(running, "Inventory-Sync", "cd-2", clear_cache("Inventory-Sync"))
    waiting = stack.settled(running, second, lambda i: i["approval_state"] == "pending")
    assert waiting["decision"]["reasons"][0]["code"] == "loop_breaker"
    assert "cooldown" in waiting["decision"]["reasons"][0]["detail"]
    time.sleep(0.3)
    clears = [r.path for r in stack.target.requests() if r.path.startswith("/cache/")]
    assert clears == ["/cache/inventory-sync/clear"]


@pytest.mark.parametrize("how", ["action", "mode"])
def test_a_shadow_action_is_decided_and_recorded_but_never_run(stack: Stack, how: str) -> None:
    text = stack.policy_file.read_text()
    if how == "action":
        text = text.replace("  clear_cache:\n", "  clear_cache:\n    shadow: true\n")
    else:
        text = text.replace("mode: live", "mode: shadow")
    stack.policy_file.write_text(text)
    running = stack.start()
    incident_id = stack.alert(running, "checkout-web", "shd-1", clear_cache("checkout-web"))
    # The decision is made as usual, and asks the approvers for a verdict (issue 19).
    asked = stack.settled(running, incident_id, lambda i: i["approval"]["state"] == "pending")
    assert asked["decision"]["outcome"] == "execute"
    assert stack.verdict(running, incident_id, "alice").status_code == 200
    done = stack.settled(running, incident_id,
                         lambda i: "execution.shadowed" in _audit_kinds(stack, incident_id))
    assert done["executions"] == []
    time.sleep(0.3)
    assert stack.target.requests("/cache/checkout-web/clear") == []


def test_the_per_service_model_call_limit_counts_every_spelling(stack: Stack) -> None:
    running = stack.start(model_calls_per_minute_per_service=1)
    first = stack.alert(running, "search-api", "llm-1", _restart("search-api"))
    done = stack.settled(running, first, lambda i: i["proposal"] is not None)
    assert done["proposal"]["provider"] == "openai"
    other = stack.alert(running, "Search-API", "llm-2", _restart("Search-API"))
    limited = stack.settled(running, other, lambda i: i["proposal"] is not None)
    assert limited["proposal"]["provider"] == "rules"
    assert "rate_limited" in limited["proposal"]["note"]
    assert len(stack.llm.requests) == 1
