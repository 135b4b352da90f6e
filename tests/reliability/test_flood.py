"""A flood: 20,000 alerts from 100 concurrent connections to a real ``warden serve``.

``/healthz`` keeps answering within 200 ms, memory stays bounded, and every acknowledged
alert is stored. With a small work-queue bound, new alerts are refused with 503 and
``Retry-After`` before anything is stored, and a sender that retries (as Alertmanager does)
gets each one stored exactly once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from tests.conftest import RunningWarden
from tests.fakes.llm_server import FakeLLMServer, Hang, Reply, proposal
from tests.reliability.process import WardenProcess, rss_kib, sqlite_engine
from warden.store.tables import AlertRow, DeliveryRow, IncidentRow

ALERTS = 20_000
CONNECTIONS = 100
SERVICES = 200
HEALTHZ_BUDGET_S = 0.200
# The server's resident memory may grow by at most this much over the flood: the stored
# alerts live in SQLite, not in the process.
RSS_GROWTH_LIMIT_KIB = 50 * 1024


@dataclass
class Probed:
    """What the probe saw: each ``/healthz`` latency, failed probes, the peak RSS."""

    latencies_s: list[float]
    failures: list[str]
    peak_rss_kib: int


def _probe(url: str, pid: int, interval_s: float, stop: EventType, out: Connection) -> None:
    """Runs in its own process: GET /healthz every ``interval_s`` until ``stop``, reading the
    server's RSS beside each; sends a ``Probed`` back through ``out``."""
    probed = Probed([], [], 0)
    with httpx.Client(base_url=url, timeout=5) as client:
        while not stop.wait(interval_s):
            started = time.perf_counter()
            try:
                status = client.get("/healthz").status_code
            except httpx.HTTPError as exc:
                status = 0
                probed.failures.append(repr(exc))
            probed.latencies_s.append(time.perf_counter() - started)
            if status not in (0, 200):
                probed.failures.append(f"HTTP {status}")
            probed.peak_rss_kib = max(probed.peak_rss_kib, rss_kib(pid))
    out.send(probed)


@contextmanager
def health_probe(server: WardenProcess, interval_s: float = 0.05) -> Iterator[list[Probed]]:
    """Probe ``server`` from a separate process for the duration of the block: the load
    generator in this one must not delay the probe's own requests (its GIL would, and the
    latency measured would be the client's, not Warden's). The result is in the yielded
    list once the block ends."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_probe, args=(server.url, server.pid, interval_s, stop,
                                                   send), daemon=True)
    process.start()
    result: list[Probed] = []
    try:
        yield result
    finally:
        stop.set()
        if receive.poll(30):
            result.append(receive.recv())
        process.join(timeout=10)


def body(i: int) -> dict[str, Any]:
    return {"service": f"svc-{i % SERVICES}", "title": "Redis cache memory at 97%",
            "labels": {"n": str(i)}}


async def flood(url: str, total: int, connections: int) -> Counter[int]:
    """Post ``total`` alerts over ``connections`` keep-alive connections; count statuses."""
    statuses: Counter[int] = Counter()
    next_index = iter(range(total))

    async def sender() -> None:
        # A client (so a connection) per sender, as from separate hosts; one shared pool
        # of 100 would make httpx's pool, not Warden, the bottleneck.
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            for i in next_index:
                response = await client.post("/v1/alerts/generic", json=body(i))
                statuses[response.status_code] += 1

    await asyncio.gather(*(sender() for _ in range(connections)))
    return statuses


def _flood_niced(url: str, total: int, connections: int, out: Connection) -> None:
    os.nice(10)
    out.send(asyncio.run(flood(url, total, connections)))


def flood_from_another_process(url: str, total: int, connections: int) -> Counter[int]:
    """``flood`` from a process at lower CPU priority: the senders of a real flood run on
    other hosts, so on this one they must not take the server's CPU (or the probe's)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_flood_niced, args=(url, total, connections, send))
    process.start()
    try:
        statuses: Counter[int] = receive.recv()
    finally:
        process.join(timeout=30)
    return statuses


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.slow
def test_flood_of_twenty_thousand_alerts(tmp_path: Path, db: tuple[str, Engine]) -> None:
    url, engine = db
    env = {"WARDEN_DATABASE_URL": url, "WARDEN_LOG_LEVEL": "WARNING"}
    with WardenProcess(env, tmp_path / "serve.log") as server:
        httpx.post(f"{server.url}/v1/alerts/generic", json=body(-1)).raise_for_status()
        rss_before = server.rss_kib()
        started = time.perf_counter()
        with health_probe(server) as probed:
            statuses = flood_from_another_process(server.url, ALERTS, CONNECTIONS)
        elapsed = time.perf_counter() - started
        probe = probed[0]
        rss_after = server.rss_kib()
        stored = count(engine, AlertRow) - 1
        latencies = sorted(probe.latencies_s)
        worst, p99 = latencies[-1], latencies[int(len(latencies) * 0.99) - 1]
        others = dict(statuses - Counter({202: statuses[202]}))
        print(f"\n[flood] sent {ALERTS} over {CONNECTIONS} connections in {elapsed:.1f} s "
              f"({ALERTS / elapsed:.0f} alerts/s): acknowledged {statuses[202]}, stored "
              f"{stored}, lost {statuses[202] - stored}, other statuses {others}; /healthz "
              f"{len(latencies)} samples, p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms; "
              f"RSS {rss_before // 1024} MiB before, {probe.peak_rss_kib // 1024} MiB peak, "
              f"{rss_after // 1024} MiB after")
        assert statuses == Counter({202: ALERTS})
        assert stored == ALERTS
        assert count(engine, IncidentRow) == SERVICES
        assert probe.failures == []
        assert worst < HEALTHZ_BUDGET_S, latencies[-10:]
        assert probe.peak_rss_kib - rss_before < RSS_GROWTH_LIMIT_KIB

        def undecided() -> int:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(IncidentRow).where(
                    IncidentRow.pending_step.is_not(None)
                    | IncidentRow.decision_outcome.is_(None))).scalar_one())

        deadline = time.monotonic() + 60
        while undecided():
            assert time.monotonic() < deadline, f"{undecided()} incidents still undecided"
            time.sleep(0.2)


def test_full_queue_refuses_before_storing(
    warden_server: Callable[..., RunningWarden], sqlite_url: str
) -> None:
    """Worker off, so the queue stays full once filled: what is refused is never stored."""
    bound = 20
    running = warden_server(worker_enabled=False, queue_max_pending=bound)
    engine = sqlite_engine(sqlite_url)
    try:
        with running.client() as client:
            # Fill the queue past its bound, then give the count (at most a second old)
            # time to see it.
            accepted = bound + 5
            for i in range(accepted):
                assert client.post("/v1/alerts/generic", json=body(i)).status_code == 202
            time.sleep(1.5)

            statuses = asyncio.run(flood(running.url, 300, 50))
            refused = client.post("/v1/alerts/generic", json=body(0))  # an open incident's
            assert refused.status_code == 503
            assert int(refused.headers["retry-after"]) > 0
            assert refused.json()["error"] == "OverloadedError"
        print(f"\n[backpressure] bound {bound}: acknowledged {accepted + statuses[202]}, "
              f"refused with 503 {statuses[503] + 1}, stored {count(engine, AlertRow)}, lost 0")
        assert statuses == Counter({503: 300})
        assert count(engine, AlertRow) == count(engine, DeliveryRow) == accepted
    finally:
        engine.dispose()


def test_a_refused_alert_retried_after_the_queue_drains_is_stored_once(
    warden_server: Callable[..., RunningWarden], sqlite_url: str, llm_server: FakeLLMServer
) -> None:
    """The queue fills behind a slow model, drains, and the sender that honoured
    Retry-After gets its alert in (once)."""
    # Two triages at a time, 1.5 s each: ten incidents keep the queue (3) full for seconds.
    llm_server.set_default("model-a", Hang(1.5, then=Reply(proposal())))
    running = warden_server(queue_max_pending=3, triage_provider="openai",
                            llm_base_url=llm_server.base_url, llm_api_key="sk-test",
                            llm_models="model-a", model_calls_per_minute_per_service=100,
                            worker_concurrency=2)
    engine = sqlite_engine(sqlite_url)
    late = {"service": "late", "title": "disk full", "labels": {"n": "late"}}

    def stored_late() -> int:
        with engine.connect() as conn:
            return len([labels for labels in conn.execute(select(AlertRow.labels)).scalars()
                        if labels.get("n") == "late"])

    try:
        with running.client() as client:
            for i in range(10):
                assert client.post("/v1/alerts/generic", json=body(i)).status_code == 202
            time.sleep(1.5)

            attempts, started = [], time.monotonic()
            while time.monotonic() - started < 30:
                response = client.post("/v1/alerts/generic", json=late)
                attempts.append(response.status_code)
                if response.status_code != 503:
                    break
                assert stored_late() == 0
                time.sleep(float(response.headers["retry-after"]))
        print(f"\n[backpressure/retry] attempts {attempts}, stored once after "
              f"{time.monotonic() - started:.1f} s")
        assert attempts[0] == 503
        assert attempts[-1] == 202
        assert stored_late() == 1
        assert count(engine, AlertRow) == count(engine, DeliveryRow) == 11
    finally:
        engine.dispose()
