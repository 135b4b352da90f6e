"""The model endpoint down, slow, rate-limiting or talking nonsense: every incident is still
triaged (by the rules provider, saying why), a malformed reply never executes, each model's
circuit breaker opens and closes again, and ``/readyz`` and ``/metrics`` show it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import RunningWarden, free_port
from tests.fakes.llm_server import Behaviour, FakeLLMServer, Hang, Reply, Status, proposal
from tests.fakes.target import TargetServer
from tests.replicas.cluster import live_policy

MODELS = ("model-a", "model-b")
BREAKER_RESET_S = 3.0
# The rules provider proposes nothing for this text, so any execution would have come from
# the model's (malformed) suggestion.
TITLE = "Nightly report numbers look odd"

# A malformed reply that suggests an action the policy would allow: the extra key alone
# makes it malformed (policy.md: no unknown keys).
SMUGGLED = json.dumps({**json.loads(proposal(
    category="resource_exhaustion", action="clear_cache", service="svc-0")), "approved": True})

OUTAGES: dict[str, tuple[dict[str, Behaviour], str]] = {
    # name: (what each model answers, a word the fallback note must contain)
    "slow": ({m: Hang(3.0) for m in MODELS}, "timeout"),
    "429": ({m: Status(429, "slow down", retry_after=0) for m in MODELS}, "HTTP 429"),
    "garbage": ({"model-a": Reply("Sure! Here is the triage: {\"category\": \"latency\""),
                 "model-b": Reply(SMUGGLED)}, "malformed"),
}


def outage_settings(base_url: str, policy: Path) -> dict[str, Any]:
    return {"triage_provider": "openai", "llm_base_url": base_url, "llm_api_key": "sk-test",
            "llm_models": ",".join(MODELS), "llm_timeout_s": 0.5, "llm_max_retries": 1,
            "llm_retry_backoff_s": 0.01, "llm_breaker_failures": 2,
            "llm_breaker_reset_s": BREAKER_RESET_S, "policy": policy}


def triage(running: RunningWarden, service: str) -> dict[str, Any]:
    """Post one alert and return its incident once decided."""
    with running.client() as client:
        response = client.post("/v1/alerts/generic", json={"service": service, "title": TITLE})
        assert response.status_code == 202, response.text
        incident_id = response.json()["alerts"][0]["incident_id"]

        def detail() -> dict[str, Any]:
            body: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}").json()
            return body

        running.wait_for(lambda: detail()["decision"] is not None
                         and detail()["pending_step"] is None, timeout_s=20)
        return detail()


def health(running: RunningWarden) -> tuple[dict[str, Any], str]:
    with running.client() as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200  # degraded, not down: ingest and rules still work
        return ready.json(), client.get("/metrics").text


def assert_degraded(running: RunningWarden) -> None:
    ready, metrics = health(running)
    assert ready["status"] == "degraded"
    assert any("circuit breaker is open" in part for part in ready["degraded"]), ready
    for model in MODELS:
        assert f'warden_llm_circuit_open{{model="{model}"}} 1.0' in metrics
    assert "warden_degraded 1.0" in metrics


def assert_healthy(running: RunningWarden) -> None:
    ready, metrics = health(running)
    assert (ready["status"], ready["degraded"]) == ("ok", [])
    assert 'warden_llm_circuit_open{model="model-a"} 0.0' in metrics
    assert "warden_degraded 0.0" in metrics


def run_outage(running: RunningWarden, word: str, target: TargetServer,
               calls: Callable[[], int]) -> list[dict[str, Any]]:
    """Two incidents that fail every model (opening both breakers), then one that the
    open breakers send straight to rules."""
    incidents = [triage(running, f"svc-{i}") for i in range(2)]
    for body in incidents:
        assert body["proposal"]["provider"] == "rules"
        assert body["proposal"]["note"].startswith("all models failed"), body["proposal"]
        assert word in body["proposal"]["note"]
    assert_degraded(running)
    before = calls()
    open_one = triage(running, "svc-2")
    assert open_one["proposal"]["provider"] == "rules"
    assert open_one["proposal"]["note"].count("circuit open") == len(MODELS)
    assert calls() == before  # an open breaker costs no call and no timeout
    incidents.append(open_one)
    for body in incidents:
        assert body["decision"]["outcome"] == "blocked"
        assert body["decision"]["reasons"][0]["code"] == "no_action"
        assert body["executions"] == []
    assert target.requests() == []
    return incidents


@pytest.mark.parametrize("outage", sorted(OUTAGES))
def test_model_outage_falls_back_to_rules_then_recovers(
    outage: str, warden_server: Callable[..., RunningWarden], llm_server: FakeLLMServer,
    target: TargetServer, tmp_path: Path,
) -> None:
    behaviours, word = OUTAGES[outage]
    for model, behaviour in behaviours.items():
        llm_server.set_default(model, behaviour)
    policy = live_policy(tmp_path / "policy.yaml", int(urlsplit(target.url).port or 0))
    running = warden_server(**outage_settings(llm_server.base_url, policy))
    assert_healthy(running)
    incidents = run_outage(running, word, target, llm_server.calls)
    print(f"\n[outage/{outage}] incidents {len(incidents)}, triaged by rules "
          f"{sum(i['proposal']['provider'] == 'rules' for i in incidents)}, model calls "
          f"{llm_server.calls()}, executions 0 of 0 expected")

    # The endpoint recovers: after the reset time one trial call closes the breaker.
    for model in MODELS:
        llm_server.set_default(model, Reply(proposal(category="unknown")))
    time.sleep(BREAKER_RESET_S)  # they opened before the third incident
    recovered = triage(running, "svc-3")
    assert recovered["proposal"]["provider"] == "openai"
    assert recovered["proposal"]["note"] is None
    assert_healthy(running)


def test_model_endpoint_down(
    warden_server: Callable[..., RunningWarden], target: TargetServer, tmp_path: Path
) -> None:
    """Nothing listens on the port: connection refused, every time."""
    policy = live_policy(tmp_path / "policy.yaml", int(urlsplit(target.url).port or 0))
    running = warden_server(**outage_settings(f"http://127.0.0.1:{free_port()}/v1", policy))
    incidents = run_outage(running, "connection failed", target, lambda: 0)
    print(f"\n[outage/down] incidents {len(incidents)}, all triaged by rules, executions 0")
