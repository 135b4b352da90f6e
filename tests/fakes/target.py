"""A stand-in for the infrastructure Warden acts on: an HTTP server on 127.0.0.1 that
records every request and answers as scripted.

It plays the ``http`` executor's target (``POST /cache/{service}/clear``), a health-check
endpoint and the notification webhook. ``respond(path, status)`` sets the answer for a
path (default 200 ``{"ok": true}``); ``hold(path)`` makes requests to that path wait until
``release()`` (to catch a worker mid-request). Requests are recorded on arrival, before
they are answered.

Fixture: ``target`` (function scope) yields a started ``TargetServer``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class TargetServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._status: dict[str, int] = {}
        self._held: set[str] = set()
        self._release = threading.Event()
        self.arrived = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.target = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> TargetServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def respond(self, path: str, status: int) -> None:
        with self._lock:
            self._status[path] = status

    def hold(self, path: str) -> None:
        with self._lock:
            self._held.add(path)

    def release(self) -> None:
        self._release.set()

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"the target did not see it within {timeout_s} s; "
                                     f"received: {self.requests()}")
            time.sleep(0.02)

    def _record(self, received: Received) -> tuple[int, bool]:
        with self._lock:
            self._received.append(received)
            status = self._status.get(received.path, 200)
            held = received.path in self._held
        self.arrived.set()
        return status, held


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _serve(self) -> None:
        target: TargetServer = self.server.target  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, held = target._record(Received(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if held:
            target._release.wait(30)
        payload = json.dumps({"ok": 200 <= status < 300}).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client is gone (e.g. the process that called was killed)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


@pytest.fixture
def target() -> Iterator[TargetServer]:
    server = TargetServer().start()
    try:
        yield server
    finally:
        server.stop()
