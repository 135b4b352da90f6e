"""SIGKILL ``warden serve`` mid-ingest, mid-triage and mid-execution; restart it on the same
SQLite file; nothing acknowledged is lost, every incident moves on, nothing runs twice.

Figures (alerts sent, acknowledged, stored, lost) are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine, func, select

from tests.fakes.llm_server import FakeLLMServer, Hang, Reply, proposal
from tests.fakes.target import TargetServer
from tests.reliability.process import WardenProcess
from tests.replicas.cluster import live_policy
from warden.store.tables import AlertRow, AuditRow, ExecutionRow, IncidentRow

pytestmark = pytest.mark.slow

LEASE_S = "2"  # a killed worker's leases lapse quickly, so the restarted one can claim them


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Sender:
    """Posts generic alerts from several threads until stopped and keeps every 2xx.

    Each alert carries a unique ``seq`` label; a new service (so a new incident) every 25
    alerts keeps the worker busy while the server is killed.
    """

    url: str
    threads: int = 8
    acked: dict[int, int] = field(default_factory=dict)  # seq -> alert_id
    failed: int = 0
    _seq: Iterator[int] = field(default_factory=itertools.count)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return len(self.acked) + self.failed

    def start(self) -> None:
        self._workers = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                seq = next(self._seq)
                body = {"service": f"svc-{seq // 25}", "title": "Redis cache memory at 97%",
                        "labels": {"seq": str(seq)}}
                try:
                    response = client.post("/v1/alerts/generic", json=body)
                except httpx.HTTPError:  # refused or reset while the server is down
                    response = None
                with self._lock:
                    if response is not None and response.is_success:
                        self.acked[seq] = response.json()["alerts"][0]["alert_id"]
                    else:
                        self.failed += 1
                if response is None:
                    time.sleep(0.05)


def test_sigkill_mid_ingest_loses_no_acknowledged_alert(
    tmp_path: Path, db: tuple[str, Engine]
) -> None:
    url, engine = db
    server = WardenProcess({"WARDEN_DATABASE_URL": url, "WARDEN_LEASE_S": LEASE_S,
                            "WARDEN_LOG_LEVEL": "WARNING"}, tmp_path / "serve.log")
    sender = Sender(server.url)
    with server:
        sender.start()
        wait_until(lambda: len(sender.acked) >= 300, 30, "300 acknowledged alerts")
        server.kill()
        acked_before_kill = len(sender.acked)
        with engine.connect() as conn:
            undecided_at_kill = set(conn.execute(
                select(IncidentRow.id).where(IncidentRow.pending_step.is_not(None))).scalars())
        time.sleep(0.5)  # senders now meet a closed port
        server.start()
        wait_until(lambda: len(sender.acked) >= acked_before_kill + 300, 30,
                   "300 more acknowledged alerts after the restart")
        sender.stop()

        with engine.connect() as conn:
            stored = dict(conn.execute(select(AlertRow.id, AlertRow.labels)).tuples().all())
        seq_of = {alert_id: int(labels["seq"]) for alert_id, labels in stored.items()}
        lost = {seq: alert_id for seq, alert_id in sender.acked.items()
                if seq_of.get(alert_id) != seq}
        # Stored but never acknowledged: requests cut off by the kill after their commit.
        unacknowledged = len(stored) - len(sender.acked)
        print(f"\n[crash/ingest] sent {sender.sent}, acknowledged {len(sender.acked)} "
              f"({acked_before_kill} before the kill), stored {len(stored)}, lost {len(lost)}, "
              f"stored without a 2xx {unacknowledged}, failed requests {sender.failed}, "
              f"incidents undecided at the kill {len(undecided_at_kill)}")
        assert lost == {}
        assert len(set(seq_of.values())) == len(stored), "an alert was stored twice"
        assert 0 <= unacknowledged <= sender.failed

        def every_incident_decided() -> bool:
            with engine.connect() as conn:
                return not conn.execute(select(func.count()).select_from(IncidentRow).where(
                    (IncidentRow.pending_step.is_not(None))
                    | IncidentRow.decision_outcome.is_(None))).scalar_one()

        wait_until(every_incident_decided, 60, "every incident to be triaged and decided")
        with engine.connect() as conn:
            incidents = conn.execute(select(func.count()).select_from(IncidentRow)).scalar_one()
            alert_total = conn.execute(select(func.sum(IncidentRow.alert_count))).scalar_one()
        assert alert_total == len(stored)
        print(f"[crash/ingest] {incidents} incidents, all decided after the restart")


def test_sigkill_mid_triage_triages_after_restart(
    tmp_path: Path, db: tuple[str, Engine], llm_server: FakeLLMServer
) -> None:
    url, engine = db
    # The first call hangs (triage in flight when the server dies); later calls answer.
    llm_server.script("model-a", Hang(60))
    llm_server.set_default("model-a", Reply(proposal(
        category="resource_exhaustion", severity="high", root_cause="cache is full")))
    env = {"WARDEN_DATABASE_URL": url, "WARDEN_LEASE_S": LEASE_S, "WARDEN_LOG_LEVEL": "WARNING",
           "WARDEN_TRIAGE_PROVIDER": "openai", "WARDEN_LLM_BASE_URL": llm_server.base_url,
           "WARDEN_LLM_API_KEY": "sk-test", "WARDEN_LLM_MODELS": "model-a"}
    with WardenProcess(env, tmp_path / "serve.log") as server, \
            httpx.Client(base_url=server.url, timeout=10) as client:
        posted = client.post("/v1/alerts/generic", json={
            "service": "checkout-web", "title": "Redis cache memory at 97%"})
        assert posted.status_code == 202
        incident_id = posted.json()["alerts"][0]["incident_id"]
        wait_until(lambda: llm_server.calls("model-a") == 1, 20, "the model call")
        server.kill()
        with engine.connect() as conn:
            row = conn.execute(select(IncidentRow.pending_step, IncidentRow.decision_outcome)
                               .where(IncidentRow.id == incident_id)).one()
        assert tuple(row) == ("triage", None)  # killed with the triage in flight

        server.start()

        def detail() -> dict[str, Any]:
            body: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}").json()
            return body

        wait_until(lambda: detail()["pending_step"] is None, 30, "triage after the restart")
        body = detail()
    print(f"\n[crash/triage] model calls {llm_server.calls()} (1 cut off by the kill), "
          f"decision {body['decision']['outcome']} by {body['proposal']['provider']}")
    assert body["proposal"]["provider"] == "openai"
    assert body["proposal"]["category"] == "resource_exhaustion"
    assert body["decision"]["outcome"] == "blocked"  # the model proposed no action
    assert llm_server.calls() == 2


def test_sigkill_mid_execution_is_unknown_and_never_rerun(
    tmp_path: Path, db: tuple[str, Engine], target: TargetServer
) -> None:
    url, engine = db
    path = "/cache/checkout-web/clear"
    target.hold(path)  # the action's request arrives, then hangs until the server is dead
    policy = live_policy(tmp_path / "policy.yaml", int(urlsplit(target.url).port or 0))
    env = {"WARDEN_DATABASE_URL": url, "WARDEN_LEASE_S": LEASE_S, "WARDEN_LOG_LEVEL": "WARNING",
           "WARDEN_POLICY": str(policy), "WARDEN_EXECUTOR_TIMEOUT_S": "60"}
    with WardenProcess(env, tmp_path / "serve.log") as server, \
            httpx.Client(base_url=server.url, timeout=10) as client:
        posted = client.post("/v1/alerts/generic", json={
            "service": "checkout-web", "title": "Redis cache memory at 97%",
            "description": "cache memory usage is near its limit"})
        incident_id = posted.json()["alerts"][0]["incident_id"]
        target.wait_for(lambda: len(target.requests(path)) == 1, 20)
        server.kill()
        with engine.connect() as conn:
            status = conn.execute(select(ExecutionRow.status)).scalars().all()
        assert status == ["started"]  # committed before the side effect

        server.start()
        wait_until(lambda: client.get(f"/v1/incidents/{incident_id}").json()["pending_step"]
                   is None, 30, "the restarted worker to settle the execution")
        target.release()
        time.sleep(1.0)  # time enough for a (wrong) second run to reach the target
        body = client.get(f"/v1/incidents/{incident_id}").json()
        with engine.connect() as conn:
            kinds = conn.execute(select(AuditRow.kind).where(AuditRow.incident_id == incident_id)
                                 .order_by(AuditRow.id)).scalars().all()
    executions = body["executions"]
    print(f"\n[crash/execute] actions expected 1, requests the target got "
          f"{len(target.requests(path))}, execution rows {len(executions)}, status "
          f"{executions[0]['status']}")
    assert [e["status"] for e in executions] == ["unknown"]
    assert "will not be run again" in executions[0]["output"]
    assert len(target.requests()) == 1
    assert kinds.count("execution.started") == 1
    assert "execution.unknown" in kinds
    assert "execution.finished" not in kinds
