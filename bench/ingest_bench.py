"""Ingest throughput under wrk: Warden's durable ``POST /v1/alerts/generic`` beside a bare
FastAPI endpoint that only parses the same body, in interleaved runs.

    .venv/bin/python bench/ingest_bench.py [--rounds 3] [--seconds 10]
        [--threads 2] [--connections 32]

Both servers run as their own processes on loopback (uvicorn with httptools, as
``warden serve`` runs); the load comes from ``wrk`` (Debian package ``wrk``), which keeps
the bare endpoint at full speed where a Python client could not. Each request carries a
distinct alert (``bench/distinct_alerts.lua``: run, thread and counter in its title), so
Warden stores and opens an incident for every one. Runs alternate bare, Warden, bare,
Warden... so a neighbour's load on a shared machine falls on both. Prints each run, the
medians and their ratio (goal >= 50%), and checks that every alert Warden acknowledged
(202) is in its store.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sqlite3
import statistics
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
LUA = Path(__file__).with_name("distinct_alerts.lua")
_RESULT = re.compile(r"^wrk-result requests=(\d+) accepted=(\d+) seconds=([\d.]+)$", re.M)


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


def wrk(url: str, run: str, *, seconds: int, threads: int, connections: int) -> tuple[int, float]:
    """One wrk run; returns (alerts acknowledged with 202, acknowledged per second)."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(LUA), url, "--", run],
        check=True, capture_output=True, text=True).stdout
    found = _RESULT.search(out)
    if found is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    accepted, elapsed = int(found.group(2)), float(found.group(3))
    return accepted, accepted / elapsed


def cpu_seconds(pid: int) -> float:
    """The process's user and system CPU time so far (``/proc/PID/stat``, Linux): a cost
    per request that other load on a shared machine barely distorts."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def stored_alerts(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM alerts").fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    load = {"seconds": args.seconds, "threads": args.threads, "connections": args.connections}
    venv_bin = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bare_app.py").write_text(BARE_APP)
        db = Path(tmp) / "bench.db"
        bare_port, warden_port = free_port(), free_port()
        env = {**os.environ, "WARDEN_DATABASE_URL": f"sqlite:///{db}",
               "WARDEN_LOG_LEVEL": "WARNING", "WARDEN_QUEUE_MAX_PENDING": "100000000"}
        servers = [
            subprocess.Popen([str(venv_bin / "uvicorn"), "bare_app:app", "--port",
                              str(bare_port), "--log-level", "warning", "--no-access-log",
                              "--http", "httptools"], cwd=tmp),
            subprocess.Popen([str(venv_bin / "warden"), "serve", "--port", str(warden_port),
                              "--no-worker"], env=env, stderr=subprocess.DEVNULL),
        ]
        try:
            urls = {"bare": f"http://127.0.0.1:{bare_port}",
                    "warden": f"http://127.0.0.1:{warden_port}"}
            for url in urls.values():
                wait_ready(url)
            print(f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, "
                  f"{args.rounds} interleaved rounds, {os.cpu_count()} cores")
            for name, url in urls.items():  # warm-up, not counted
                wrk(url, f"warm-{name}", **{**load, "seconds": 2})
            pids = dict(zip(urls, (server.pid for server in servers), strict=True))
            rates: dict[str, list[float]] = {"bare": [], "warden": []}
            cpu_us: dict[str, list[float]] = {"bare": [], "warden": []}
            acknowledged = 0
            for round_no in range(args.rounds):
                for name, url in urls.items():
                    cpu_before = cpu_seconds(pids[name])
                    accepted, rate = wrk(url, f"r{round_no}-{name}", **load)
                    per_alert = (cpu_seconds(pids[name]) - cpu_before) / max(accepted, 1) * 1e6
                    rates[name].append(rate)
                    cpu_us[name].append(per_alert)
                    if name == "warden":
                        acknowledged += accepted
                    print(f"  round {round_no + 1} {name:6s} {rate:8.0f} alerts/s  "
                          f"{per_alert:6.0f} CPU us/alert")
            bare, durable = (statistics.median(rates["bare"]),
                             statistics.median(rates["warden"]))
            bare_cpu, durable_cpu = (statistics.median(cpu_us["bare"]),
                                     statistics.median(cpu_us["warden"]))
            print(f"bare FastAPI (parse only)       median {bare:8.0f} req/s    "
                  f"{bare_cpu:6.0f} CPU us/req")
            print(f"warden generic (SQLite, fsync)  median {durable:8.0f} alerts/s "
                  f"{durable_cpu:6.0f} CPU us/alert")
            print(f"warden / bare: {durable / bare:.0%} (goal >= 50%); "
                  f"CPU per alert {durable_cpu / bare_cpu:.1f}x the bare request's")
            stored = stored_alerts(db) - warden_warmup_alerts(db)
            print(f"acknowledged in measured runs: {acknowledged}; stored: {stored} "
                  f"({'every acknowledged alert stored' if stored >= acknowledged else 'LOST'})")
            return 0 if stored >= acknowledged else 1
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)


def warden_warmup_alerts(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(
            "SELECT count(*) FROM alerts WHERE title LIKE 'warm-%'").fetchone()[0])


if __name__ == "__main__":
    sys.exit(main())
