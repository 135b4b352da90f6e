"""Triage through the running worker: rules by default, the openai provider against a real
OpenAI-compatible server on loopback, budgets, rate limits, escalation and flood control."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import RunningWarden
from tests.fakes.llm_server import FakeLLMServer, Reply, Status, proposal


def post(running: RunningWarden, body: dict[str, Any], source: str = "generic") -> int:
    with running.client() as client:
        response = client.post(f"/v1/alerts/{source}", json=body)
    assert response.status_code == 202, response.text
    return int(response.json()["alerts"][0]["incident_id"])


def incident(running: RunningWarden, incident_id: int) -> dict[str, Any]:
    with running.client() as client:
        body: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}").json()
    return body


def decided(running: RunningWarden, incident_id: int) -> dict[str, Any]:
    running.wait_for(lambda: incident(running, incident_id)["decision"] is not None)
    return incident(running, incident_id)


def openai_settings(server: FakeLLMServer, **extra: Any) -> dict[str, Any]:
    return {"triage_provider": "openai", "llm_base_url": server.base_url,
            "llm_api_key": "sk-test-key", "llm_models": "model-a,model-b",
            "llm_timeout_s": 1.0, "llm_retry_backoff_s": 0.01, **extra}


def test_rules_triage_decides_by_policy(warden_server: Any) -> None:
    running = warden_server()
    standard = post(running, {"service": "checkout-web", "title": "Redis cache memory at 97%",
                              "description": "cache memory usage is near its limit"})
    critical = post(running, {"service": "payment-gateway",
                              "title": "Redis cache memory at 97%"})
    body = decided(running, standard)
    assert body["proposal"]["provider"] == "rules"
    assert body["proposal"]["category"] == "resource_exhaustion"
    assert body["decision"]["outcome"] == "execute"
    assert body["decision"]["action"]["name"] == "clear_cache"
    body = decided(running, critical)
    assert body["decision"]["outcome"] == "needs_approval"
    assert body["decision"]["reasons"][0]["code"] == "approval_required"
    assert body["approval"]["state"] == "pending"


def test_openai_reply_is_recorded_with_its_cost(warden_server: Any,
                                                llm_server: FakeLLMServer) -> None:
    llm_server.set_default("model-a", Reply(proposal(
        category="latency", severity="high", root_cause="slow queries",
        action="clear_cache", service="search-api"), cost=0.0123))
    running = warden_server(**openai_settings(llm_server))
    incident_id = post(running, {"service": "search-api", "title": "p99 latency 3s"})
    body = decided(running, incident_id)
    assert body["proposal"]["provider"] == "openai"
    assert body["proposal"]["model"] == "model-a"
    assert body["proposal"]["category"] == "latency"
    assert body["decision"]["outcome"] == "execute"
    assert [c["outcome"] for c in body["model_calls"]] == ["ok"]
    assert body["cost_usd"] == pytest.approx(0.0123)
    sent = llm_server.requests[0].body
    assert sent["response_format"]["type"] == "json_schema"


def test_every_model_failing_falls_back_to_rules_and_says_why(
    warden_server: Any, llm_server: FakeLLMServer
) -> None:
    llm_server.set_default("model-a", Status(500))
    llm_server.set_default("model-b", Reply("I think you should restart everything."))
    running = warden_server(**openai_settings(llm_server, llm_max_retries=0))
    body = decided(running, post(running, {"service": "search-api", "title": "disk full"}))
    assert body["proposal"]["provider"] == "rules"
    assert "all models failed" in body["proposal"]["note"]
    outcomes = sorted(c["outcome"] for c in body["model_calls"])
    assert outcomes == ["error", "malformed"]


def test_budget_is_enforced_before_the_call(warden_server: Any,
                                            llm_server: FakeLLMServer) -> None:
    llm_server.set_default("model-a", Reply(proposal(), cost=0.002))
    running = warden_server(**openai_settings(llm_server, budget_daily_usd=0.001))
    first = decided(running, post(running, {"service": "a-svc", "title": "disk full"}))
    second = decided(running, post(running, {"service": "b-svc", "title": "disk full"}))
    assert first["proposal"]["provider"] == "openai"
    assert second["proposal"]["provider"] == "rules"
    assert second["proposal"]["note"].startswith("budget_exhausted: daily")
    assert llm_server.calls() == 1


def test_per_service_rate_limit_falls_back_to_rules(warden_server: Any,
                                                    llm_server: FakeLLMServer) -> None:
    running = warden_server(**openai_settings(llm_server,
                                              model_calls_per_minute_per_service=1))
    first = decided(running, post(running, {"service": "a-svc", "title": "disk full"}))
    second = decided(running, post(running, {"service": "a-svc", "title": "queue lag"}))
    other = decided(running, post(running, {"service": "b-svc", "title": "queue lag"}))
    assert first["proposal"]["provider"] == "openai"
    assert second["proposal"]["provider"] == "rules"
    assert second["proposal"]["note"].startswith("rate_limited")
    assert other["proposal"]["provider"] == "openai"
    assert llm_server.calls() == 2


def test_repeats_cost_nothing_and_escalation_triages_again(
    warden_server: Any, llm_server: FakeLLMServer
) -> None:
    running = warden_server(**openai_settings(llm_server))
    alert = {"service": "a-svc", "title": "queue lag", "severity": "medium"}
    incident_id = post(running, alert)
    decided(running, incident_id)
    for _ in range(5):
        assert post(running, alert) == incident_id
    assert post(running, {**alert, "severity": "critical"}) == incident_id
    running.wait_for(lambda: llm_server.calls() == 2)
    running.wait_for(lambda: incident(running, incident_id)["pending_step"] != "triage")
    assert incident(running, incident_id)["alert_count"] == 7
    assert llm_server.calls() == 2


@pytest.mark.slow
def test_a_flood_of_ten_thousand_alerts_about_five_faults_makes_five_model_calls(
    warden_server: Any, llm_server: FakeLLMServer
) -> None:
    running = warden_server(**openai_settings(llm_server))
    batches = []
    for batch in range(100):
        group = batch % 5
        alerts = [{
            "status": "firing",
            "labels": {"alertname": "DiskFull", "service": f"svc-{group}",
                       "severity": "warning"},
            "annotations": {"summary": f"disk full on svc-{group}"},
            "startsAt": f"2026-11-26T10:{batch // 60:02d}:{batch % 60:02d}.{i:06d}Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"fp{group}",
        } for i in range(100)]
        batches.append({
            "version": "4", "status": "firing", "receiver": "warden",
            "groupKey": f'{{}}:{{service="svc-{group}"}}', "truncatedAlerts": 0,
            "groupLabels": {"service": f"svc-{group}"}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am", "alerts": alerts,
        })

    def send(body: dict[str, Any]) -> int:
        with running.client() as client:
            response = client.post("/v1/alerts/alertmanager", json=body)
        assert response.status_code == 202, response.text
        return int(response.json()["accepted"])

    with ThreadPoolExecutor(max_workers=10) as pool:
        accepted = sum(pool.map(send, batches))
    assert accepted == 10_000
    with running.client() as client:
        page = client.get("/v1/incidents").json()
    assert page["total"] == 5
    assert sum(i["alert_count"] for i in page["items"]) == 10_000
    for item in page["items"]:
        decided(running, item["id"])
    assert llm_server.calls() == 5
