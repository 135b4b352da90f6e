"""Approvals, execution and the audit trail over real HTTP (issue 5, "Done when").

Warden runs on a real port with a temporary SQLite file; the model is the scripted
OpenAI-compatible fake (tests/fakes/llm_server.py), the infrastructure and the on-call
webhook are a recording HTTP server (tests/fakes/target.py). The policy is live, so the
target receives what a real one would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tests.conftest import free_port
from tests.e2e.stack import TOKENS, Stack, clear_cache, stack
from tests.fakes.llm_server import proposal
from warden.cli.main import app as cli

__all__ = ["stack"]  # the fixture


def test_critical_incident_waits_for_two_distinct_listed_approvers_then_runs_once(
    stack: Stack, store_url: str,
) -> None:
    stack.database_url = store_url  # once on SQLite, once on PostgreSQL
    running = stack.start()
    incident_id = stack.alert(running, "payment-gateway", "crit-1", clear_cache("payment-gateway"))

    # It waits, and the on-call channel hears why and who may approve.
    waiting = stack.settled(running, incident_id, lambda i: i["approval_state"] == "pending")
    assert waiting["decision"]["outcome"] == "needs_approval"
    assert waiting["decision"]["reasons"][0]["code"] == "approval_required"
    assert waiting["executions"] == []
    [notice] = stack.notices(incident_id)
    assert notice["kind"] == "policy.decided"
    assert "waits for approval" in notice["text"] and "alice, carol" in notice["text"]

    # No token, an unknown token, an approver of another tier: refused, nothing changes.
    assert stack.verdict(running, incident_id, None).status_code == 401
    assert stack.verdict(running, incident_id, "not-a-token").status_code == 401
    refused = stack.verdict(running, incident_id, "bob")
    assert refused.status_code == 403, refused.text
    assert "bob" in refused.json()["detail"]
    assert stack.verdict(running, incident_id, "mallory", "reject").status_code == 403
    viewer = stack.verdict(running, incident_id, "vera")
    assert viewer.status_code == 403 and "viewer" in viewer.json()["detail"]
    # A verdict on another decision than the current one, or on none: refused.
    stale = stack.verdict(running, incident_id, "alice", digest="0123456789abcdef")
    assert stale.status_code == 409 and "not the current decision" in stale.json()["detail"]
    with running.client() as client:
        unbound = client.post(f"/v1/incidents/{incident_id}/approve", json={"reason": "ok"},
                              headers={"Authorization": f"Bearer {TOKENS['alice']}"})
    assert unbound.status_code == 422
    assert unbound.json()["detail"][0]["loc"] == ["body", "decision_digest"]
    assert stack.incident(running, incident_id)["approvals"] == []

    # One approver of two is not enough, however often they approve: one verdict each.
    for _ in range(2):
        first = stack.verdict(running, incident_id, "alice")
        assert first.status_code == 200, first.text
        assert first.json()["approval_state"] == "pending"
        assert first.json()["approved_by"] == ["alice"] and first.json()["needed"] == 2
    time.sleep(0.3)
    assert stack.target.requests("/cache/payment-gateway/clear") == []

    # The second distinct approver completes the quorum: the action runs exactly once.
    second = stack.verdict(running, incident_id, "carol")
    assert second.status_code == 200, second.text
    assert second.json()["approval_state"] == "approved"
    assert second.json()["recheck"]["outcome"] == "needs_approval"
    done = stack.settled(running, incident_id, lambda i: len(i["executions"]) == 1)
    [execution] = done["executions"]
    assert execution["status"] == "succeeded", execution
    assert execution["automated"] is False and execution["dry_run"] is False
    assert [(a["approver"], a["verdict"]) for a in done["approvals"]] == [
        ("alice", "approve"), ("carol", "approve")]
    time.sleep(0.3)
    [received] = stack.target.requests("/cache/payment-gateway/clear")
    assert received.method == "POST"
    assert received.json()["incident_id"] == incident_id

    # Approving again: nothing waits any more.
    assert stack.verdict(running, incident_id, "alice").status_code == 409

    # The post-mortem tells the story.
    with running.reader() as client:
        report = client.get(f"/v1/incidents/{incident_id}/report")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/markdown")
    for expected in ("## Timeline", "## Raw alert", "## Proposal", "## Decision",
                     "approval_required", "## Approvals", "| carol | approve | api |",
                     "## Executions", "(succeeded)", "-> 200 OK", "m1"):
        assert expected in report.text, expected


def test_a_rejected_request_runs_nothing(stack: Stack) -> None:
    running = stack.start()
    incident_id = stack.alert(running, "payment-gateway", "rej-1", clear_cache("payment-gateway"))
    stack.settled(running, incident_id, lambda i: i["approval_state"] == "pending")
    assert stack.verdict(running, incident_id, "alice").status_code == 200
    rejected = stack.verdict(running, incident_id, "carol", "reject", reason="sale running")
    assert rejected.status_code == 200 and rejected.json()["approval_state"] == "rejected"
    assert stack.verdict(running, incident_id, "carol").status_code == 409
    time.sleep(0.5)
    final = stack.incident(running, incident_id)
    assert final["approval"]["state"] == "rejected" and final["executions"] == []
    assert stack.target.requests("/cache/payment-gateway/clear") == []


def test_an_expired_request_runs_nothing(stack: Stack) -> None:
    running = stack.start(approval_ttl_minutes=0.005)  # 0.3 s
    incident_id = stack.alert(running, "payment-gateway", "exp-1", clear_cache("payment-gateway"))
    stack.settled(running, incident_id, lambda i: i["approval_state"] == "pending")
    time.sleep(0.5)
    late = stack.verdict(running, incident_id, "alice")
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    assert stack.verdict(running, incident_id, "carol").status_code == 409
    time.sleep(0.3)
    final = stack.incident(running, incident_id)
    assert final["approval"]["state"] == "expired"
    assert final["approvals"] == [] and final["executions"] == []
    assert stack.target.requests("/cache/payment-gateway/clear") == []


def test_a_command_param_is_one_literal_argv_element(stack: Stack) -> None:
    running = stack.start()
    note = "; rm -rf /"
    raw = proposal(action="annotate", service="inventory-sync", params={"note": note})
    incident_id = stack.alert(running, "inventory-sync", "cmd-1", raw)
    done = stack.settled(running, incident_id, lambda i: len(i["executions"]) == 1)
    [execution] = done["executions"]
    assert execution["status"] == "succeeded", execution
    assert execution["automated"] is True
    assert json.loads(execution["output"].splitlines()[-1]) == [note]


def test_a_crash_between_started_and_finished_yields_unknown_not_a_second_run(
    stack: Stack,
) -> None:
    # A real `warden serve` process starts the action, and is killed while the target
    # still holds the request: the started row is committed, the result never is.
    stack.target.hold("/cache/checkout-web/clear")
    stack.replies["crash-1"] = clear_cache("checkout-web")
    port = free_port()
    env = {
        **os.environ, "WARDEN_DATABASE_URL": stack.database_url,
        "WARDEN_POLICY": str(stack.policy_file), "WARDEN_TRIAGE_PROVIDER": "openai",
        "WARDEN_LLM_BASE_URL": stack.llm.base_url, "WARDEN_LLM_API_KEY": "test",
        "WARDEN_LLM_MODELS": "m1", "WARDEN_LLM_MAX_RETRIES": "0", "WARDEN_LEASE_S": "1",
        "WARDEN_WORKER_POLL_S": "0.05", "WARDEN_NOTIFY_WEBHOOK_URL": f"{stack.target.url}/hook",
    }
    child = subprocess.Popen(
        [str(Path(sys.executable).parent / "warden"), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and child.poll() is None, "serve did not start"
            time.sleep(0.1)
        posted = httpx.post(f"http://127.0.0.1:{port}/v1/alerts/generic", json={
            "service": "checkout-web", "title": "Cache memory at 97% [crash-1]"})
        assert posted.status_code == 202
        incident_id = posted.json()["alerts"][0]["incident_id"]
        assert stack.target.arrived.wait(20), "the action never reached the target"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    stack.target.release()

    # Warden again, on the same store: the lease expires, the step is claimed again.
    running = stack.start(lease_s=1)
    final = stack.settled(running, incident_id,
                          lambda i: bool(i["executions"]) and i["executions"][0]["status"]
                          != "started")
    [execution] = final["executions"]
    assert execution["status"] == "unknown"
    assert "will not be run again" in execution["output"]
    running.wait_for(lambda: any(n["kind"] == "execution.unknown"
                                 for n in stack.notices(incident_id)))
    time.sleep(0.5)
    assert len(stack.target.requests("/cache/checkout-web/clear")) == 1


def test_tampering_with_one_audit_row_is_found_by_warden_audit_verify(stack: Stack) -> None:
    running = stack.start()
    incident_id = stack.alert(running, "checkout-web", "audit-1", clear_cache("checkout-web"))
    stack.settled(running, incident_id, lambda i: len(i["executions"]) == 1)
    running.stop()
    runner = CliRunner()
    env = {"WARDEN_DATABASE_URL": stack.database_url, "WARDEN_POLICY": str(stack.policy_file)}
    clean = runner.invoke(cli, ["audit", "verify"], env=env)
    assert clean.exit_code == 0, clean.output
    assert "audit chain ok" in clean.output

    engine = create_engine(stack.database_url)
    with engine.begin() as conn:
        victim = conn.execute(text(
            "SELECT id FROM audit_events WHERE kind = 'execution.finished'")).scalar_one()
        conn.execute(text("UPDATE audit_events SET data = :d WHERE id = :id"),
                     {"d": json.dumps({"status": "succeeded", "output": "nothing to see"}),
                      "id": victim})
    engine.dispose()
    broken = runner.invoke(cli, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert f"broken at event {victim}" in broken.output


def test_an_unanswered_request_expires_and_humans_hear_it(stack: Stack) -> None:
    running = stack.start(approval_ttl_minutes=0.01)  # 0.6 s
    incident_id = stack.alert(running, "payment-gateway", "exp-2", clear_cache("payment-gateway"))
    stack.settled(running, incident_id, lambda i: i["approval_state"] == "pending")
    # Nobody opens the request again: the worker expires it and tells the on-call channel.
    stack.target.wait_for(lambda: any(n["kind"] == "approval.expired"
                                      for n in stack.notices(incident_id)))
    (notice,) = [n for n in stack.notices(incident_id) if n["kind"] == "approval.expired"]
    assert "nothing ran" in notice["text"]
    final = stack.settled(running, incident_id, lambda i: True)
    assert final["approval"]["state"] == "expired" and final["executions"] == []
    assert stack.target.requests("/cache/payment-gateway/clear") == []
