"""Three Warden replicas on one PostgreSQL database: nothing triaged or executed twice,
and a replica killed while holding leases has its incidents finished by the others."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from tests.conftest import fresh_pg_database
from tests.fakes.llm_server import FakeLLMServer, Hang, Reply, proposal
from tests.replicas.cluster import Cluster, TargetServer, cluster, live_policy
from warden.store.tables import ExecutionRow, IncidentRow

pytestmark = pytest.mark.slow

SERVICE = re.compile(r'"service": "([^"]+)"')


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    url, drop = fresh_pg_database(pg_server_url)
    try:
        yield url
    finally:
        drop()


def clear_cache_for_the_alerted_service(delay_s: float = 0.0) -> Any:
    """A model that proposes clearing the cache of whatever service the alert names."""

    def handler(model: str, body: dict[str, Any]) -> Any:
        user = body["messages"][-1]["content"]
        service = SERVICE.findall(user)[-1]
        reply = Reply(proposal(category="resource_exhaustion", severity="high",
                               action="clear_cache", service=service), cost=0.001)
        return Hang(delay_s, then=reply) if delay_s else reply

    return handler


def replica_env(pg_url: str, policy: Path, llm: FakeLLMServer, **extra: str) -> dict[str, str]:
    return {
        "WARDEN_DATABASE_URL": pg_url, "WARDEN_POLICY": str(policy),
        "WARDEN_TRIAGE_PROVIDER": "openai", "WARDEN_LLM_BASE_URL": llm.base_url,
        "WARDEN_LLM_API_KEY": "sk-test", "WARDEN_LLM_MODELS": "model-a",
        "WARDEN_MODEL_CALLS_PER_MINUTE": "10000",
        "WARDEN_MODEL_CALLS_PER_MINUTE_PER_SERVICE": "100",
        "WARDEN_BUDGET_DAILY_USD": "1000", "WARDEN_LOG_LEVEL": "WARNING", **extra,
    }


def send_round_robin(running: Cluster, bodies: list[dict[str, Any]]) -> int:
    urls = [r.url for r in running.replicas]

    def send(indexed: tuple[int, dict[str, Any]]) -> int:
        i, body = indexed
        response = httpx.post(f"{urls[i % len(urls)]}/v1/alerts/generic",
                              json=body, timeout=30)
        assert response.status_code == 202, response.text
        return 1

    with ThreadPoolExecutor(max_workers=30) as pool:
        return sum(pool.map(send, enumerate(bodies)))


def wait_until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_replicas_triage_and_execute_each_incident_once(
    pg_url: str, tmp_path: Path, llm_server: FakeLLMServer
) -> None:
    target = TargetServer()
    llm_server.handler = clear_cache_for_the_alerted_service()
    policy = live_policy(tmp_path / "policy.yaml", target.port)
    engine = create_engine(pg_url)

    def count(stmt: Any) -> int:
        with engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    undecided = select(func.count()).select_from(IncidentRow).where(
        IncidentRow.pending_step.is_not(None))
    try:
        with cluster(3, replica_env(pg_url, policy, llm_server, WARDEN_LEASE_S="3"),
                     tmp_path) as running:
            bodies = [{"service": f"svc-{i % 60}", "title": "cache memory at 97%",
                       "labels": {"n": str(i)}} for i in range(3000)]
            assert send_round_robin(running, bodies) == 3000

            wait_until(lambda: count(undecided) == 0, 120, "every incident to finish")
            assert count(select(func.count()).select_from(IncidentRow)) == 60
            assert count(select(func.sum(IncidentRow.alert_count))) == 3000
            assert llm_server.calls() == 60
            assert count(select(func.count()).select_from(ExecutionRow)) == 60
            assert sorted(target.hits.values()) == [1] * 60
            assert set(target.hits) == {f"/cache/svc-{i}/clear" for i in range(60)}

            # Now a slow model: kill one replica while it holds leases mid-triage.
            llm_server.handler = clear_cache_for_the_alerted_service(delay_s=2.0)
            victim = running.replicas[0]
            pid = str(victim.process.pid)
            new = [{"service": f"late-{i}", "title": "cache memory at 97%"}
                   for i in range(12)]
            send_round_robin(running, new)

            def victim_leases() -> list[int]:
                with engine.connect() as conn:
                    return list(conn.execute(text(
                        "SELECT id FROM incidents WHERE lease_owner LIKE :p"),
                        {"p": f"%:{pid}:%"}).scalars())

            wait_until(lambda: bool(victim_leases()), 30, "the victim to hold a lease")
            held = victim_leases()
            running.kill(victim)

            wait_until(lambda: count(undecided) == 0, 120, "the survivors to finish")
            with engine.connect() as conn:
                rows = conn.execute(select(IncidentRow.id, IncidentRow.decision_outcome,
                                           IncidentRow.lease_owner)
                                    .where(IncidentRow.id.in_(held))).all()
            assert all(outcome == "execute" for _, outcome, _ in rows), rows
            assert sorted(target.hits.values()) == [1] * 72
            assert count(select(func.count()).select_from(ExecutionRow)) == 72
    finally:
        engine.dispose()
        target.stop()
