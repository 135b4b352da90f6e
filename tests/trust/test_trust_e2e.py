"""The trust ladder over real HTTP: shadow actions that never run while their verdicts
count, replay of recorded decisions under another policy, precedents from real
executions and verifications."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import RunningWarden
from tests.e2e.stack import Stack, clear_cache
from tests.fakes.llm_server import proposal
from warden.words import SHADOW_NOTE

WARDEN = str(Path(sys.executable).parent / "warden")


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WARDEN, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "WARDEN_DATABASE_URL": stack.database_url,
                               "WARDEN_POLICY": str(stack.policy_file)})


def sql(stack: Stack, statement: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(stack.tmp_path / "warden.db") as conn:
        rows = conn.execute(statement).fetchall()
    conn.close()
    return rows


def edit_policy(stack: Stack, old: str, new: str) -> None:
    text = stack.policy_file.read_text()
    assert old in text
    stack.policy_file.write_text(text.replace(old, new, 1))


def labelled_alert(stack: Stack, running: RunningWarden, service: str, marker: str, raw: str,
                   alertname: str) -> int:
    stack.replies[marker] = raw
    with running.client() as client:
        response = client.post("/v1/alerts/generic", json={
            "service": service, "title": f"Canary down [{marker}]", "severity": "high",
            "labels": {"alertname": alertname}})
    assert response.status_code == 202, response.text
    return int(response.json()["alerts"][0]["incident_id"])


CLEAR_CACHE = "  clear_cache:\n    auto_tiers: [standard]\n"


def test_shadow_actions_never_run_in_live_mode_and_their_verdicts_count(stack: Stack) -> None:
    edit_policy(stack, CLEAR_CACHE, CLEAR_CACHE + "    shadow: true\n")
    running = stack.start()
    allowed = stack.alert(running, "checkout-web", "sh-1", clear_cache("checkout-web"))
    guarded = stack.alert(running, "payment-gateway", "sh-2", clear_cache("payment-gateway"))
    for incident_id, outcome in ((allowed, "execute"), (guarded, "needs_approval")):
        seen = stack.settled(running, incident_id,
                             lambda i: i["approval"]["state"] == "pending")
        # Whatever the policy's outcome, the approvers are asked, and told what it means.
        assert seen["decision"]["outcome"] == outcome
        assert seen["decision"]["shadow_note"] == SHADOW_NOTE
        running.wait_for(lambda n=incident_id: bool(stack.notices(n)))
        assert SHADOW_NOTE in stack.notices(incident_id)[0]["text"]

    assert stack.verdict(running, allowed, "alice", "approve").status_code == 200
    assert stack.verdict(running, guarded, "alice", "reject").status_code == 200
    done = stack.settled(running, allowed, lambda i: i["approval"]["state"] == "approved")
    running.wait_for(lambda: bool(sql(stack, "SELECT id FROM audit_events "
                                             "WHERE kind = 'execution.shadowed'")))
    # Live mode, approved, and still nothing reached the target.
    assert done["executions"] == []
    assert stack.target.requests("/cache/checkout-web/clear") == []
    assert stack.target.requests("/cache/payment-gateway/clear") == []

    stats = cli(stack, "policy", "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    rows = {row["tier"]: row for row in json.loads(stats.stdout)["actions"]}
    assert rows["standard"]["policy"] == {"execute": 1, "needs_approval": 0, "blocked": 0}
    assert rows["standard"]["verdicts"] == {"approve": 1, "reject": 0}
    assert rows["standard"]["agreement"] == 1.0
    assert rows["critical"]["verdicts"] == {"approve": 0, "reject": 1}
    assert rows["critical"]["agreement"] == 0.0
    assert rows["standard"]["executions"] == rows["critical"]["executions"] == 0
    assert rows["standard"]["model"] == "m1"


def test_replay_lists_what_a_stricter_policy_changes_and_runs_nothing(stack: Stack) -> None:
    running = stack.start()
    executed = stack.alert(running, "checkout-web", "rp-1", clear_cache("checkout-web"))
    waiting = stack.alert(running, "payment-gateway", "rp-2", clear_cache("payment-gateway"))
    stack.settled(running, executed, lambda i: bool(i["executions"]))
    stack.settled(running, waiting, lambda i: i["approval"]["state"] == "pending")
    running.stop()
    hits, model_calls = len(stack.target.requests()), stack.llm.calls()

    same = cli(stack, "policy", "replay", "--policy", str(stack.policy_file), "--json")
    assert same.returncode == 0, same.stderr
    # Two triage decisions and the re-check before the execution.
    assert json.loads(same.stdout) == {"replayed": 3, "changed": [], "summary": {}}

    stricter = stack.tmp_path / "stricter.yaml"
    stricter.write_text(stack.policy_file.read_text().replace(
        "    auto_tiers: [standard]\n    approval_tiers: [critical]\n",
        "    auto_tiers: []\n    approval_tiers: [standard, critical]\n", 1))
    done = cli(stack, "policy", "replay", "--policy", str(stricter), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["replayed"] == 3
    assert {c["incident_id"] for c in result["changed"]} == {executed}
    assert {c["stage"] for c in result["changed"]} == {"triage", "execute"}
    assert result["summary"] == {"execute->needs_approval": 2}
    first = result["changed"][0]
    assert first["before"]["reasons"][0]["code"] == "allowed"
    assert first["after"]["reasons"][0]["code"] == "approval_required"
    text = cli(stack, "policy", "replay", "--policy", str(stricter))
    assert f"incident #{executed} (triage" in text.stdout
    assert "3 decisions replayed" in text.stdout and "execute->needs_approval: 2" in text.stdout
    # Replay called no model and ran nothing.
    assert (len(stack.target.requests()), stack.llm.calls()) == (hits, model_calls)


def test_replay_refuses_a_tampered_audit_log(stack: Stack) -> None:
    running = stack.start()
    incident_id = stack.alert(running, "checkout-web", "tp-1", clear_cache("checkout-web"))
    stack.settled(running, incident_id, lambda i: bool(i["executions"]))
    running.stop()
    sql(stack, "UPDATE audit_events SET data = replace(data, 'allowed', 'approval_required') "
               "WHERE kind = 'policy.inputs'")
    done = cli(stack, "policy", "replay", "--policy", str(stack.policy_file), "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "replay refused: the audit chain does not verify at event" in done.stderr


def test_a_verified_fix_is_a_precedent_for_the_same_alert(stack: Stack) -> None:
    edit_policy(stack, "  restart_canary:\n    auto_tiers: [standard]\n",
                "  restart_canary:\n    auto_tiers: [standard]\n    approval_tiers: [standard]\n"
                "    auto_requires_precedent: true\n")
    running = stack.start()
    restart = proposal(category="connectivity", action="restart_canary", service="search-api")
    first = labelled_alert(stack, running, "search-api", "pc-1", restart, "CanaryDown")
    seen = stack.settled(running, first, lambda i: i["approval"]["state"] == "pending")
    assert seen["decision"]["reasons"][0]["code"] == "no_precedent"
    assert seen["decision"]["precedents"] == 0
    assert stack.verdict(running, first, "alice").status_code == 200
    fixed = stack.settled(running, first, lambda i: bool(i["executions"])
                          and i["executions"][0]["verification"])
    assert fixed["executions"][0]["verification"]["ok"] is True

    # Another alert's identity has no precedent; the same identity has one.
    other = labelled_alert(stack, running, "search-api", "pc-2", restart, "DiskFull")
    again = labelled_alert(stack, running, "Search-API", "pc-3",
                           proposal(category="connectivity", action="restart_canary",
                                    service="Search-API"), "CanaryDown")
    other_seen = stack.settled(running, other, lambda i: i["decision"] is not None)
    assert other_seen["decision"]["reasons"][0]["code"] == "no_precedent"
    again_seen = stack.settled(running, again, lambda i: bool(i["executions"]))
    assert again_seen["decision"]["outcome"] == "execute"
    assert again_seen["decision"]["precedents"] == 1
    assert len(stack.target.requests("/restart/search-api")) == 1
    assert len(stack.target.requests("/restart/Search-API")) == 1
