"""Several real `warden serve` processes on one PostgreSQL database, for replica tests
and the replica benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.conftest import free_port

WARDEN = str(Path(sys.executable).parent / "warden")


class TargetServer:
    """The infrastructure an http executor acts on: counts every request by path."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                with target._lock:
                    target.hits[self.path] += 1
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()


def live_policy(path: Path, target_port: int) -> Path:
    path.write_text(f"""
version: 1
mode: live
services:
  "*": {{tier: standard}}
actions:
  clear_cache:
    auto_tiers: [standard]
    approval_tiers: []
    executor: {{type: http, method: POST, url: "http://127.0.0.1:{target_port}/cache/{{service}}/clear"}}
security:
  labels: {{team: [security]}}
  patterns: []
limits:
  per_service_per_hour: 100
  global_per_hour: 10000
  cooldown_minutes: 30
approvers:
  standard: [alice]
  critical: [alice, carol]
  critical_quorum: 2
""")
    return path


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Cluster:
    replicas: list[Replica] = field(default_factory=list)

    def kill(self, replica: Replica) -> None:
        replica.process.send_signal(signal.SIGKILL)
        replica.process.wait(timeout=10)


@contextmanager
def cluster(n: int, env: dict[str, str], log_dir: Path) -> Iterator[Cluster]:
    """Start ``n`` replicas (API + worker each) and stop them all afterwards."""
    running = Cluster()
    try:
        for i in range(n):
            port = free_port()
            log = log_dir / f"replica-{i}.log"
            process = subprocess.Popen(
                [WARDEN, "serve", "--port", str(port)],
                env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                stderr=log.open("wb"),
            )
            running.replicas.append(Replica(f"http://127.0.0.1:{port}", process, log))
        for replica in running.replicas:
            wait_healthy(replica)
        yield running
    finally:
        for replica in running.replicas:
            if replica.process.poll() is None:
                replica.process.terminate()
        for replica in running.replicas:
            try:
                replica.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                replica.process.kill()


def wait_healthy(replica: Replica, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise RuntimeError(f"replica exited: {replica.log.read_text()[-2000:]}")
        try:
            if httpx.get(replica.url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"replica did not become ready: {replica.log.read_text()[-2000:]}")
