"""A Warden stack for end-to-end tests: Warden on a real port with a temporary SQLite
file, the scripted OpenAI-compatible fake as its model, and a recording HTTP server as the
infrastructure it acts on and the on-call webhook (path ``/hook``).

The policy (live) has ``clear_cache`` (http; approval on the critical
``payment-gateway``), ``annotate`` (a command with a free-text param) and
``restart_canary`` (http, followed by an http health check).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningWarden, start_warden
from tests.fakes.llm_server import FakeLLMServer, Reply, proposal
from tests.fakes.target import TargetServer
from warden.config import Settings

TOKENS = {"alice": "tok-alice", "bob": "tok-bob", "carol": "tok-carol",
          "mallory": "tok-mallory", "vera": "tok-vera"}
ROLES = {"bob": "admin", "vera": "viewer"}
"""Everyone else holds an approver token (the default role)."""
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
  restart_canary:
    auto_tiers: [standard]
    executor:
      type: http
      method: POST
      url: "{target.url}/restart/{{service}}"
      verify: {{type: http, url: "{target.url}/health/{{service}}", expected_status: 200}}
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
        # The alert's own marker comes first: its evidence (similar past incidents) may
        # quote earlier incidents' titles, and so their markers, further down.
        found = [(said.index(marker), raw) for marker, raw in self.replies.items()
                 if marker in said]
        return Reply(content=min(found, key=lambda hit: hit[0])[1]) if found else None

    def dry_run(self) -> None:
        """Switch the policy file to ``mode: dry_run`` (before starting Warden)."""
        self.policy_file.write_text(
            self.policy_file.read_text().replace("mode: live", "mode: dry_run"))

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.database_url, "policy": self.policy_file,
            "api_tokens": ",".join(f"{u}:{t}" + (f":{ROLES[u]}" if u in ROLES else "")
                                   for u, t in TOKENS.items()),
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
        with running.reader() as client:
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
                verdict: str = "approve", reason: str = "checked the raw alert",
                digest: str | None = None) -> Any:
        """``user``'s verdict through the API on the decision ``digest`` (default: the
        current one, as ``GET /v1/incidents/{id}`` shows it)."""
        if digest is None:
            digest = (self.incident(running, incident_id)["decision"] or {}).get("digest")
        headers = {} if user is None else {"Authorization": f"Bearer {TOKENS.get(user, user)}"}
        with running.client() as client:
            return client.post(f"/v1/incidents/{incident_id}/{verdict}", headers=headers,
                               json={"reason": reason, "decision_digest": digest})

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
