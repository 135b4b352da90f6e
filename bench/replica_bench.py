"""Ingest into one replica versus three, all on one PostgreSQL database, in one run.

    .venv/bin/python bench/replica_bench.py [--requests 3000] [--concurrency 30]

Starts real `warden serve` processes (API and worker, rules triage) against a fresh
database on the server in WARDEN_TEST_DATABASE_URL (default the local `test` database's
server), posts generic alerts round-robin from this process, and prints alerts/s for each
set-up. On one 2-core machine the replicas share the CPU: the figure shows the cost of
coordination, not the gain of a second host.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import PG_DEFAULT, fresh_pg_database
from tests.replicas.cluster import cluster


async def load(urls: list[str], requests: int, concurrency: int) -> float:
    counter = iter(range(requests))

    async def client_loop(k: int) -> None:
        async with httpx.AsyncClient(base_url=urls[k % len(urls)], timeout=60) as client:
            for i in counter:
                body = {"service": f"svc-{i % 60}", "title": "cache memory at 97%",
                        "labels": {"n": str(i)}}
                response = await client.post("/v1/alerts/generic", json=body)
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(k) for k in range(concurrency)))
    return requests / (time.perf_counter() - started)


def run(replicas: int, requests: int, concurrency: int) -> float:
    server = os.environ.get("WARDEN_TEST_DATABASE_URL", PG_DEFAULT)
    url, drop = fresh_pg_database(server)
    try:
        with tempfile.TemporaryDirectory() as tmp, cluster(
            replicas, {"WARDEN_DATABASE_URL": url, "WARDEN_LOG_LEVEL": "WARNING"}, Path(tmp)
        ) as running:
            urls = [r.url for r in running.replicas]
            asyncio.run(load(urls, min(300, requests), concurrency))  # warm-up
            return asyncio.run(load(urls, requests, concurrency))
    finally:
        drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=30)
    args = parser.parse_args()
    print(f"{args.requests} alerts, {args.concurrency} concurrent clients, "
          f"{os.cpu_count()} cores, PostgreSQL")
    one = run(1, args.requests, args.concurrency)
    print(f"1 replica   {one:8.0f} alerts/s")
    three = run(3, args.requests, args.concurrency)
    print(f"3 replicas  {three:8.0f} alerts/s   ({three / one:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
