"""Ingest throughput: Warden's durable `POST /v1/alerts/generic` beside a bare FastAPI
endpoint that only parses the same body, measured in the same run.

    .venv/bin/python bench/ingest_bench.py [--requests 3000] [--concurrency 32]

Both servers run as separate uvicorn processes on loopback; the load comes from another
process (asyncio + httpx, one connection per concurrent client). Prints alerts/s and p50/p99
latency for each, and Warden's rate as a share of the bare endpoint's (goal: >= 50%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BARE_APP = """
import json
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
app = FastAPI()
@app.post("/v1/alerts/{source}")
async def ingest(source: str, request: Request):
    body = json.loads(await request.body())
    return JSONResponse(status_code=202, content={"accepted": 1, "source": source,
                                                   "service": body["service"]})
@app.get("/healthz")
async def healthz():
    return {"status": "ok"}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


async def load(url: str, requests: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(requests))

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for i in counter:
                body = {"service": f"svc-{i % 50}", "title": f"alert {i}",
                        "description": "disk filling up", "severity": "high",
                        "labels": {"n": str(i)}}
                started = time.perf_counter()
                response = await client.post("/v1/alerts/generic", content=json.dumps(body),
                                             headers={"content-type": "application/json"})
                latencies.append(time.perf_counter() - started)
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started), sorted(latencies)


def measure(name: str, url: str, requests: int, concurrency: int) -> float:
    # The load runs in this process while the server runs in its own.
    asyncio.run(load(url, min(200, requests), concurrency))  # warm-up
    rate, lat = asyncio.run(load(url, requests, concurrency))
    p50 = lat[len(lat) // 2] * 1000
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    print(f"{name:34s} {rate:8.0f} alerts/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    venv_bin = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        bare_file = Path(tmp) / "bare_app.py"
        bare_file.write_text(BARE_APP)
        bare_port, warden_port = free_port(), free_port()
        env = {**os.environ, "WARDEN_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
               "WARDEN_LOG_LEVEL": "WARNING", "WARDEN_QUEUE_MAX_PENDING": "1000000"}
        servers = [
            subprocess.Popen([str(venv_bin / "uvicorn"), "bare_app:app", "--port",
                              str(bare_port), "--log-level", "warning", "--no-access-log"],
                             cwd=tmp),
            subprocess.Popen([str(venv_bin / "warden"), "serve", "--port", str(warden_port),
                              "--no-worker"], env=env, stderr=subprocess.DEVNULL),
        ]
        try:
            bare_url, warden_url = (f"http://127.0.0.1:{bare_port}",
                                    f"http://127.0.0.1:{warden_port}")
            wait_ready(bare_url)
            wait_ready(warden_url)
            print(f"{args.requests} requests, {args.concurrency} concurrent clients, "
                  f"{os.cpu_count()} cores")
            bare = measure("bare FastAPI (parse only)", bare_url, args.requests,
                           args.concurrency)
            durable = measure("warden generic (SQLite, fsync)", warden_url, args.requests,
                              args.concurrency)
            print(f"warden / bare: {durable / bare:.0%} (goal >= 50%)")
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
