"""Recorded deploys ground a rollback, over real HTTP (issue 17, items 2-4).

Warden runs on a real port with the built-in policy, whose ``rollback`` takes a grounded
``version`` (``from: deployed_versions``; approval on every tier). Deploys are recorded
through ``POST /v1/changes/generic``; the model, when there is one, is the scripted
OpenAI-compatible fake (tests/fakes/llm_server.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.changes.test_evidence_e2e import deploy
from tests.conftest import RunningWarden
from tests.fakes.llm_server import FakeLLMServer, Reply, proposal

LATENCY = {"title": "p99 latency above 2s on orders-api",
           "description": "Requests take longer than 2 seconds.", "severity": "high"}


def alert(running: RunningWarden, service: str, **body: Any) -> int:
    with running.reader() as client:
        answer = client.post("/v1/alerts/generic", json={"service": service, **body})
    assert answer.status_code == 202, answer.text
    return int(answer.json()["alerts"][0]["incident_id"])


def settled(running: RunningWarden, incident_id: int, until: str = "decision") -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> bool:
        with running.reader() as client:
            seen.update(client.get(f"/v1/incidents/{incident_id}").json())
        return seen["pending_step"] is None and bool(seen[until])

    running.wait_for(done)
    return seen


def two_deploys(running: RunningWarden, service: str, *, minutes_ago: float = 2) -> None:
    """v1.4.1 yesterday, v1.4.2 ``minutes_ago``: v1.4.2 runs now, v1.4.1 ran before."""
    now = datetime.now(UTC)
    with running.reader() as client:
        deploy(client, service, "v1.4.1", now - timedelta(days=1))
        deploy(client, service, "v1.4.2", now - timedelta(minutes=minutes_ago))


def code(incident: dict[str, Any]) -> str:
    reason: str = incident["decision"]["reasons"][0]["code"]
    return reason


def test_a_deploy_then_a_latency_alert_proposes_a_grounded_rollback_that_runs_when_approved(
    warden_server: Any,
) -> None:
    running = warden_server(api_tokens="alice:tok-alice", worker_poll_s=0.05)
    two_deploys(running, "orders-api")
    incident_id = alert(running, "orders-api", **LATENCY)

    waiting = settled(running, incident_id)
    suggested = waiting["proposal"]["suggested_action"]
    assert waiting["proposal"]["provider"] == "rules"
    assert suggested == {"name": "rollback", "service": "orders-api",
                         "params": {"version": "v1.4.1"}}
    assert "Deploy v1.4.2 landed 2 min before the first alert" in waiting["proposal"]["root_cause"]
    assert waiting["decision"]["outcome"] == "needs_approval"
    assert code(waiting) == "approval_required"
    assert waiting["approval"]["state"] == "pending"

    # The policy is asked again before execution, with the record of that moment: still
    # grounded, so the approved rollback runs (a dry run under the built-in policy).
    with running.reader() as client:
        approved = client.post(f"/v1/incidents/{incident_id}/approve", json={
            "reason": "v1.4.2 broke it", "decision_digest": waiting["decision"]["digest"]})
    assert approved.status_code == 200, approved.text
    done = settled(running, incident_id, until="executions")
    [execution] = done["executions"]
    assert execution["status"] == "dry_run"
    assert "v1.4.1" in execution["output"]


@pytest.mark.parametrize(("title", "minutes_ago"), [
    ("p99 latency above 2s on orders-api", 45),  # the deploy is too old to suspect
    ("Disk 91% full on orders-api", 2),           # not a regression a rollback fixes
])
def test_without_a_suspect_deploy_the_rules_propose_as_before(
    warden_server: Any, title: str, minutes_ago: float,
) -> None:
    running = warden_server(worker_poll_s=0.05)
    two_deploys(running, "orders-api", minutes_ago=minutes_ago)
    incident = settled(running, alert(running, "orders-api", title=title, severity="high"))
    suggested = incident["proposal"]["suggested_action"]
    assert suggested is None or suggested["name"] != "rollback"


def test_changes_under_another_case_of_the_name_count_for_the_same_service(
    warden_server: Any,
) -> None:
    running = warden_server(worker_poll_s=0.05)
    now = datetime.now(UTC)
    with running.reader() as client:
        deploy(client, "ORDERS-API", "v1.4.1", now - timedelta(days=1))
        deploy(client, "Orders-Api", "v1.4.2", now - timedelta(minutes=3))
    incident = settled(running, alert(running, "orders-api", **LATENCY))
    assert incident["proposal"]["suggested_action"]["params"] == {"version": "v1.4.1"}
    assert incident["decision"]["outcome"] == "needs_approval"


def openai_settings(server: FakeLLMServer) -> dict[str, Any]:
    return {"triage_provider": "openai", "llm_base_url": server.base_url,
            "llm_api_key": "sk-test-key", "llm_models": "model-a", "llm_max_retries": 0,
            "llm_timeout_s": 2.0, "worker_poll_s": 0.05}


@pytest.mark.parametrize(("version", "why"), [
    ("v9.9.9", "never deployed"),
    ("v1.4.2", "the version that runs now"),
])
def test_a_model_rollback_to_a_version_not_run_before_is_blocked_not_grounded(
    warden_server: Any, llm_server: FakeLLMServer, version: str, why: str,
) -> None:
    llm_server.set_default("model-a", Reply(proposal(
        category="latency", severity="high", root_cause=f"roll back to {why}",
        action="rollback", service="orders-api", params={"version": version})))
    running = warden_server(**openai_settings(llm_server))
    two_deploys(running, "orders-api")
    incident = settled(running, alert(running, "orders-api", **LATENCY))
    assert incident["proposal"]["provider"] == "openai"
    assert incident["decision"]["outcome"] == "blocked"
    assert code(incident) == "param_not_grounded"
    assert "'v1.4.1', 'v1.4.2'" in incident["decision"]["reasons"][0]["detail"]


def test_the_model_is_shown_the_recent_changes_and_deployed_versions_as_untrusted_data(
    warden_server: Any, llm_server: FakeLLMServer,
) -> None:
    running = warden_server(**openai_settings(llm_server))
    now = datetime.now(UTC)
    with running.reader() as client:
        deploy(client, "orders-api", "v1.4.1", now - timedelta(days=1))
        deploy(client, "Orders-API", "v1.4.2", now - timedelta(minutes=2),
               summary="Deploy v1.4.2 token=ghp_0123456789abcdefghijABCDEFGHIJ012345")
        deploy(client, "search", "v7.0.0", now - timedelta(minutes=1))
    settled(running, alert(running, "orders-api", **LATENCY))

    [request] = llm_server.requests
    block = request.user_text.split("<alert>")[1].split("</alert>")[0]
    assert '"deployed_versions": [\n    "v1.4.1",\n    "v1.4.2"\n  ]' in block
    assert '"version": "v1.4.2"' in block and '"kind": "deploy"' in block
    assert re.search(r'"minutes_before_first_alert": 2\.\d\b', block)
    assert "v7.0.0" not in block  # another service's deploy
    assert "ghp_0123" not in request.user_text  # a change's summary is redacted too
    instructions = "\n".join(str(m["content"]) for m in request.body["messages"])
    assert "one of deployed_versions before the last (current) one" in instructions
