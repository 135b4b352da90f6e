"""``/readyz`` says whether the model has been reached: unverified until a call succeeds,
degraded while every model fails, nothing to verify with the rules provider."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_triage_e2e import decided, openai_settings, post
from tests.fakes.llm_server import FakeLLMServer, Reply, Status, proposal


def readyz(running: Any) -> dict[str, Any]:
    with running.client() as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_model_is_unverified_until_a_real_call_succeeds(
        warden_server: Any, llm_server: FakeLLMServer) -> None:
    llm_server.models_list_status = 404  # a server without the models list
    llm_server.set_default("model-a", Reply(proposal()))
    running = warden_server(**openai_settings(llm_server))
    body = readyz(running)
    assert body["model"] == "unverified" and body["status"] == "ok"
    decided(running, post(running, {"service": "search-api", "title": "p99 latency 3s"}))
    assert readyz(running)["model"] == "ok"


def test_the_models_list_verifies_the_model_at_start(
        warden_server: Any, llm_server: FakeLLMServer) -> None:
    running = warden_server(**openai_settings(llm_server))
    running.wait_for(lambda: readyz(running)["model"] == "ok")
    assert llm_server.calls() == 0  # no tokens spent to find out


def test_every_model_failing_is_degraded(warden_server: Any,
                                         llm_server: FakeLLMServer) -> None:
    llm_server.models_list_status = 401
    for model in ("model-a", "model-b"):
        llm_server.set_default(model, Status(500))
    running = warden_server(**openai_settings(llm_server, llm_max_retries=0))
    assert readyz(running)["model"] == "unverified"
    decided(running, post(running, {"service": "search-api", "title": "p99 latency 3s"}))
    body = readyz(running)
    assert body["model"] == "degraded" and body["status"] == "degraded"
    assert any("llm" in part for part in body["degraded"])


def test_the_rules_provider_has_no_model_to_verify(warden_server: Any) -> None:
    assert readyz(warden_server())["model"] == "none"
