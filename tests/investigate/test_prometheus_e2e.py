"""Metric evidence from Debian's real Prometheus, over loopback.

The hour before the alert is backfilled with ``promtool tsdb create-blocks-from
openmetrics`` (the queue held 5 jobs, then 150 for the last ten minutes), so the range
query sees a real history without the test waiting an hour. An Alertmanager webhook whose
``generatorURL`` carries the rule ``demo_queue_jobs_waiting > 100`` reaches Warden; the
incident's evidence, the model's prompt and the post-mortem hold the real values. With
Prometheus down or hanging, the incident is still triaged within the deadline and the
item says why.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import RunningWarden, free_port
from tests.e2e.test_prometheus_stack import Daemons, binary
from tests.fakes.llm_server import FakeLLMServer, Reply, proposal

pytestmark = pytest.mark.slow

RULE = "demo_queue_jobs_waiting > 100"


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Daemons]:
    running = Daemons(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


def backfilled_prometheus(processes: Daemons, now: datetime) -> str:
    """Prometheus over blocks holding the queue gauge for the 70 minutes before ``now``:
    5 until ten minutes ago, 150 since. Returns its URL."""
    lines = ["# HELP demo_queue_jobs_waiting Jobs waiting.",
             "# TYPE demo_queue_jobs_waiting gauge"]
    start = int((now - timedelta(minutes=70)).timestamp())
    turn = int((now - timedelta(minutes=10)).timestamp())
    for at in range(start, int(now.timestamp()) - 30, 15):
        lines.append(f'demo_queue_jobs_waiting{{queue="emails"}} {5 if at < turn else 150} {at}')
    lines.append("# EOF")
    source = processes.workdir / "history.om"
    source.write_text("\n".join(lines) + "\n")
    data = processes.workdir / "prometheus-data"
    done = subprocess.run([binary("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                           str(source), str(data)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    config = processes.workdir / "prometheus.yml"
    config.write_text("global: {scrape_interval: 15s}\n")
    port = free_port()
    processes.start("prometheus", [f"--config.file={config}", f"--storage.tsdb.path={data}",
                                   f"--web.listen-address=127.0.0.1:{port}"],
                    url=f"http://127.0.0.1:{port}")
    return f"http://127.0.0.1:{port}"


def webhook(now: datetime) -> dict[str, Any]:
    """What Alertmanager posts for the rule's alert (version 4)."""
    alert = {
        "status": "firing",
        "labels": {"alertname": "QueueBacklog", "service": "mailer", "severity": "warning"},
        "annotations": {"summary": "emails queue backlog"},
        "startsAt": now.isoformat(), "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?" + urlencode(
            {"g0.expr": RULE, "g0.tab": "1"}),
        "fingerprint": "f00d",
    }
    return {"receiver": "warden", "status": "firing", "alerts": [alert],
            "groupLabels": {"alertname": "QueueBacklog"}, "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"], "externalURL": "http://am:9093",
            "version": "4", "groupKey": '{}:{alertname="QueueBacklog"}',
            "truncatedAlerts": 0}


def triaged(running: RunningWarden, body: dict[str, Any]) -> dict[str, Any]:
    with running.client() as client:
        answer = client.post("/v1/alerts/alertmanager", json=body)
        assert answer.status_code == 202, answer.text
        incident_id = answer.json()["alerts"][0]["incident_id"]

        def decided() -> bool:
            return client.get(f"/v1/incidents/{incident_id}").json()["decision"] is not None

        running.wait_for(decided, timeout_s=20)
        found: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}").json()
    return found


def test_the_rule_expression_is_queried_and_the_model_sees_the_values(
    warden_server: Callable[..., RunningWarden], processes: Daemons,
    llm_server: FakeLLMServer,
) -> None:
    now = datetime.now(UTC)
    prometheus = backfilled_prometheus(processes, now)
    llm_server.set_default("model-a", Reply(proposal(category="resource_exhaustion")))
    running = warden_server(
        prometheus_url=prometheus, triage_provider="openai", llm_base_url=llm_server.base_url,
        llm_api_key="sk-test", llm_models="model-a")
    incident = triaged(running, webhook(now))

    (metric,) = [e for e in incident["evidence"] if e["kind"] == "metric"]
    assert metric["error"] is None, metric
    (series,) = metric["data"]["series"]
    assert series["labels"] == {"__name__": "demo_queue_jobs_waiting", "queue": "emails"}
    assert (series["current"], series["min"], series["max"]) == (150, 5, 150)
    crossed = datetime.fromisoformat(series["crossed_at"])
    assert timedelta(minutes=8) < now - crossed < timedelta(minutes=12)
    assert metric["data"]["query"] == "demo_queue_jobs_waiting"
    assert metric["source_url"].startswith(f"{prometheus}/graph?")
    assert 'demo_queue_jobs_waiting{queue="emails"}: now 150, min 5, max 150, crossed > 100' \
        in metric["summary"]

    (request,) = llm_server.requests
    # Inside the untrusted block "<" and ">" are \u escapes the model reads as themselves.
    assert "now 150, min 5, max 150, crossed \\u003e 100 at" in request.user_text
    prompt_start = request.user_text.index("<alert>")
    assert prompt_start < request.user_text.index("now 150") < request.user_text.index(
        "</alert>")

    with running.client() as client:
        report = client.get(f"/v1/incidents/{incident['id']}/report").text
    evidence = report.index("## Evidence")
    assert evidence < report.index("now 150, min 5, max 150") < report.index("## Proposal")


def hanging_port() -> tuple[socket.socket, int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener, listener.getsockname()[1]


@pytest.mark.parametrize("prometheus_state", ["hanging", "down"])
def test_prometheus_down_or_slow_still_triages_in_time(
    warden_server: Callable[..., RunningWarden], prometheus_state: str,
) -> None:
    listener, port = hanging_port()
    if prometheus_state == "down":
        listener.close()
    try:
        running = warden_server(prometheus_url=f"http://127.0.0.1:{port}",
                                evidence_timeout_s=1.5, prometheus_timeout_s=10)
        started = time.monotonic()
        incident = triaged(running, webhook(datetime.now(UTC)))
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert elapsed < 1.5 + 4, elapsed
    assert incident["proposal"]["provider"] == "rules"
    (metric,) = [e for e in incident["evidence"] if e["kind"] == "metric"]
    if prometheus_state == "hanging":
        assert metric["error"] == "no answer within 1.5 s (the investigation deadline)"
    else:
        assert metric["error"].startswith(f"Prometheus at http://127.0.0.1:{port} did not "
                                          "answer: ConnectError")
    assert [e["kind"] for e in incident["evidence"]] == ["similar_incidents", "metric"]
