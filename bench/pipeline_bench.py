"""The pipeline's two figures from issue 16, measured on the worker as it is.

    .venv/bin/python bench/pipeline_bench.py [--faults 24] [--latency-s 2]
        [--storm 3000] [--clients 32]

1. **A storm with a slow model.** ``--faults`` distinct faults posted at once to a real
   ``warden serve`` whose openai provider talks to a fake OpenAI-compatible server
   (tests/fakes/llm_server.py) that answers every call after ``--latency-s``. Prints the
   time until every incident has a decision and the most model calls ever open at once.
   Goal: all decided within 3 model calls' time (6 s at 2 s), many calls in flight.
2. **Ingest versus decisions.** ``--storm`` distinct faults from ``--clients`` concurrent
   clients, rules provider, SQLite. Prints the time until all were acknowledged (202) and
   until all were decided, and their ratio. Goal: decided within 1.5x the ack time.

Each run uses a fresh SQLite file. On a shared 2-core machine the figures move with the
neighbours' load; run it twice before trusting one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import free_port
from tests.fakes.llm_server import FakeLLMServer, Hang, Reply, proposal
from tests.replicas.cluster import WARDEN, Replica, wait_healthy


@contextmanager
def warden(tmp: Path, env: Mapping[str, str]) -> Iterator[tuple[str, Path]]:
    """A ``warden serve`` (API and worker) on a fresh SQLite file: its URL and database."""
    db = tmp / "pipeline.db"
    port = free_port()
    log = tmp / "serve.log"
    full = {**os.environ, "WARDEN_DATABASE_URL": f"sqlite:///{db}",
            "WARDEN_LOG_LEVEL": "WARNING", "WARDEN_QUEUE_MAX_PENDING": "1000000", **env}
    with log.open("wb") as stderr:
        process = subprocess.Popen([WARDEN, "serve", "--port", str(port)], env=full,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(Replica(url, process, log))
        yield url, db
    finally:
        process.terminate()
        process.wait(timeout=30)


def decided(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return int(conn.execute(
            "SELECT count(*) FROM incidents WHERE decision_outcome IS NOT NULL").fetchone()[0])


async def post_all(url: str, count: int, clients: int, run: str) -> None:
    numbers = iter(range(count))

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            for i in numbers:
                body = {"service": f"svc-{run}-{i}", "title": f"{run} fault {i}: p99 latency 3s",
                        "severity": "high"}
                answer = await client.post("/v1/alerts/generic", json=body)
                if answer.status_code != 202:
                    raise RuntimeError(f"{answer.status_code}: {answer.text}")

    await asyncio.gather(*(client_loop() for _ in range(clients)))


def wait_decided(db: Path, count: int, started: float, timeout_s: float) -> float:
    while decided(db) < count:
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError(f"only {decided(db)} of {count} decided after {timeout_s} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def slow_model_storm(faults: int, latency_s: float) -> None:
    arrivals: list[float] = []
    lock = threading.Lock()

    def answer_slowly(_model: str, _body: Mapping[str, Any]) -> Hang:
        with lock:
            arrivals.append(time.monotonic())
        return Hang(latency_s, Reply(proposal(category="latency", severity="high")))

    with FakeLLMServer() as model, tempfile.TemporaryDirectory() as tmp:
        model.handler = answer_slowly
        env = {"WARDEN_TRIAGE_PROVIDER": "openai", "WARDEN_LLM_BASE_URL": model.base_url,
               "WARDEN_LLM_API_KEY": "bench", "WARDEN_LLM_TIMEOUT_S": str(latency_s * 10),
               "WARDEN_MODEL_CALLS_PER_MINUTE": "10000"}
        with warden(Path(tmp), env) as (url, db):
            started = time.perf_counter()
            asyncio.run(post_all(url, faults, faults, "slow"))
            took = wait_decided(db, faults, started, timeout_s=faults * latency_s * 3 + 60)
    in_flight = max(sum(1 for other in arrivals if t - latency_s < other <= t)
                    for t in arrivals) if arrivals else 0
    goal = 3 * latency_s
    print(f"[slow model] {faults} faults, model latency {latency_s:g} s: all decided after "
          f"{took:.1f} s (goal <= {goal:g} s: {'met' if took <= goal else 'missed'}); "
          f"{len(arrivals)} model calls, at most {in_flight} in flight")


def ingest_versus_decisions(storm: int, clients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, warden(Path(tmp), {}) as (url, db):
        started = time.perf_counter()
        asyncio.run(post_all(url, storm, clients, "storm"))
        acked = time.perf_counter() - started
        took = wait_decided(db, storm, started, timeout_s=600)
    ratio = took / acked
    print(f"[rules storm] {storm} faults from {clients} clients: acknowledged in {acked:.1f} s "
          f"({storm / acked:.0f}/s), all decided after {took:.1f} s: {ratio:.1f}x "
          f"(goal <= 1.5x: {'met' if ratio <= 1.5 else 'missed'})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=24)
    parser.add_argument("--latency-s", type=float, default=2.0)
    parser.add_argument("--storm", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores")
    slow_model_storm(args.faults, args.latency_s)
    ingest_versus_decisions(args.storm, args.clients)
    return 0


if __name__ == "__main__":
    sys.exit(main())
