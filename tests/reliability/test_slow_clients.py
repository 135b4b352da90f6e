"""Slow clients are cut off (issue 15, item 8): a real ``warden serve`` under
``ulimit -n 1024`` keeps answering health checks and ingest while 1,000 slowloris
connections dribble header lines at it."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.replicas.cluster import WARDEN, Replica, wait_healthy

DESCRIPTORS = 1024
SLOW_CONNECTIONS = 1100  # about a thousand, a few more than the server has descriptors


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


def serve(tmp_path: Path, *args: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {**os.environ, "WARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'warden.db'}",
           "WARDEN_WORKER_ENABLED": "false", "WARDEN_LOG_LEVEL": "WARNING"}
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen([WARDEN, "serve", "--port", str(port), *args], env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr,
                                   preexec_fn=_limit_descriptors)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(Replica(url, process, log))
    return url, process


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[str]:
    url, process = serve(tmp_path, "--request-timeout", "10")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def slowloris(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that each send the start of a request and stop there."""
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(True)
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: warden\r\n")
        except OSError:
            sock.close()  # the server displaced it already: that is the point
            continue
        held.append(sock)
    return held


def dribble(held: list[socket.socket]) -> None:
    """One more header line on each connection still open, as a slowloris keeps them."""
    for sock in held:
        with contextlib.suppress(OSError):  # displaced: the server closed it
            sock.sendall(b"X-Slow: 1\r\n")


@pytest.mark.slow
def test_health_and_ingest_answer_while_1100_slow_clients_hold_connections(
    slow_server: str,
) -> None:
    port = int(slow_server.rsplit(":", 1)[1])
    held = slowloris(port, SLOW_CONNECTIONS)
    try:
        dribble(held)
        started = time.monotonic()
        with httpx.Client(base_url=slow_server, timeout=5) as client:
            health = client.get("/healthz")
            posted = client.post("/v1/alerts/generic", json={
                "service": "checkout-web", "title": "p99 latency over 2s"})
        took = time.monotonic() - started
        assert health.status_code == 200, health.text
        assert posted.status_code == 202, posted.text
        assert took < 2.0, f"answered after {took:.1f} s"
    finally:
        for sock in held:
            sock.close()


@pytest.mark.slow
def test_a_client_that_never_finishes_its_request_is_disconnected(tmp_path: Path) -> None:
    url, process = serve(tmp_path, "--request-timeout", "1")
    try:
        port = int(url.rsplit(":", 1)[1])
        (sock,) = slowloris(port, 1)
        started = time.monotonic()
        sock.settimeout(10)
        while True:  # a header line every 0.2 s: never idle, never done
            try:
                sock.sendall(b"X-Slow: 1\r\n")
                time.sleep(0.2)
            except OSError:
                break
            if time.monotonic() - started > 8:
                raise AssertionError("still connected after 8 s")
        assert time.monotonic() - started < 3
        sock.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
