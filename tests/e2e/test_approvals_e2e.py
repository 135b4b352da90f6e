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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tests.conftest import RunningWarden, free_port, start_warden
from tests.fakes.llm_server import FakeLLMServer, Reply, proposal
from tests.fakes.target import TargetServer
from warden.cli.main import app as cli
from warden.config import Settings

TOKENS = {"alice": "tok-alice", "bob": "tok-bob", "carol": "tok-carol",
          "mallory": "tok-mallory"}
PRINT_ARGV = "import json, sys; print(json.dumps(sys.argv[1:]))"


def policy_yaml(target: TargetServer) -> str:
    argv = json.dumps([sys.executable, "-c", PRINT_ARGV, "{note}"])
    return f"""
version: 1
mode: live
services:
  payment-gateway: {{tier: critical}}
  "*": {{tier: standard}}
actions:
  clear_cache:
    auto_tiers: [standard]
    approval_tiers: [critical]
    executor: {{type: http, method: POST, url: "{target.url}/cache/{{service}}/clear"}}
  annotate:
    auto_tiers: [standard]
    params: {{note: '[^\\n]+'}}
    executor: {{type: command, argv: {argv}}}
approvers:
  standard: [alice, bob]
  critical: [alice, carol]
  critical_quorum: 2
"""


class Stack:
    """Warden, its model, its target; helpers that speak to them as a user would."""

    def __init__(self, tmp_path: Path, target: TargetServer, llm: FakeLLMServer) -> None:
        self.tmp_path = tmp_path
        self.target = target
        self.llm = llm
        self.replies: dict[str, str] = {}
        self.policy_file = tmp_path / "policy.yaml"
        self.policy_file.write_text(policy_yaml(target))
        self.database_url = f"sqlite:///{tmp_path / 'warden.db'}"
        self.running: list[RunningWarden] = []
        llm.handler = self._answer

    def _answer(self, model: str, body: Any) -> Reply | None:
        said = json.dumps(body.get("messages", []))
        for marker, raw in self.replies.items():
            if marker in said:
                return Reply(content=raw)
        return None

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.database_url, "policy": self.policy_file,
            "api_tokens": ",".join(f"{u}:{t}" for u, t in TOKENS.items()),
            "triage_provider": "openai", "llm_base_url": self.llm.base_url,
            "llm_api_key": "test", "llm_models": ["m1"], "llm_max_retries": 0,
            "notify_webhook_url": f"{self.target.url}/hook", "worker_poll_s": 0.05,
            "public_url": "http://warden.test",
        }
        values.update(overrides)
        return Settings(**values)

    def start(self, **overrides: Any) -> RunningWarden:
        running = start_warden(self.settings(**overrides))
        self.running.append(running)
        return running

    def alert(self, running: RunningWarden, service: str, marker: str, raw: str) -> int:
        """Post a generic alert whose title carries ``marker``; the model answers ``raw``."""
        self.replies[marker] = raw
        with running.client() as client:
            response = client.post("/v1/alerts/generic", json={
                "service": service, "title": f"Cache memory at 97% [{marker}]",
                "severity": "high"})
        assert response.status_code == 202, response.text
        return int(response.json()["alerts"][0]["incident_id"])

    def incident(self, running: RunningWarden, incident_id: int) -> dict[str, Any]:
        with running.client() as client:
            response = client.get(f"/v1/incidents/{incident_id}")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    def settled(self, running: RunningWarden, incident_id: int,
                until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The incident once ``until`` holds for it and no step is due."""
        seen: dict[str, Any] = {}

        def done() -> bool:
            seen.update(self.incident(running, incident_id))
            return seen["pending_step"] is None and until(seen)

        running.wait_for(done)
        return seen

    def verdict(self, running: RunningWarden, incident_id: int, user: str | None,
                verdict: str = "approve", reason: str = "checked the raw alert") -> Any:
        headers = {} if user is None else {"Authorization": f"Bearer {TOKENS.get(user, user)}"}
        with running.client() as client:
            return client.post(f"/v1/incidents/{incident_id}/{verdict}", headers=headers,
                               json={"reason": reason})

    def notices(self, incident_id: int) -> list[dict[str, Any]]:
        return [r.json() for r in self.target.requests("/hook")
                if r.json().get("incident", {}).get("id") == incident_id]

    def stop(self) -> None:
        for running in self.running:
            running.stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with FakeLLMServer() as llm:
        target = TargetServer().start()
        made = Stack(tmp_path, target, llm)
        try:
            yield made
        finally:
            made.stop()
            target.stop()


def clear_cache(service: str) -> str:
    return proposal(category="resource_exhaustion", severity="high", action="clear_cache",
                    service=service, root_cause="the cache is full")


def test_critical_incident_waits_for_two_distinct_listed_approvers_then_runs_once(
    stack: Stack,
) -> None:
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
    assert stack.incident(running, incident_id)["approvals"] == []

    # One approver of two is not enough, however often they approve.
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
        ("alice", "approve"), ("alice", "approve"), ("carol", "approve")]
    time.sleep(0.3)
    [received] = stack.target.requests("/cache/payment-gateway/clear")
    assert received.method == "POST"
    assert received.json()["incident_id"] == incident_id

    # Approving again: nothing waits any more.
    assert stack.verdict(running, incident_id, "alice").status_code == 409

    # The post-mortem tells the story.
    with running.client() as client:
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
