"""uvicorn's HTTP protocol with the two guards against slow clients it lacks.

- **A whole request within a bounded time.** uvicorn's only read timeout is the keep-alive
  one, and it stops at the first byte, so a client that sends a header line every few
  seconds holds its connection forever (slowloris). Here each request must arrive whole
  (headers and body) within ``read_timeout_s`` of the connection opening or of the request
  beginning on a kept-alive connection; otherwise the connection is closed.
- **Open connections bounded below the descriptor limit.** uvicorn's
  ``--limit-concurrency`` answers 503 to *every* new request once slow connections fill it,
  health checks included, and past ``RLIMIT_NOFILE`` ``accept()`` fails outright. Here, at
  ``max_connections``, a new connection closes the one that has been reading its request
  longest instead, so the newest client is served and an attacker's connections are the
  ones that go; connections whose request is being answered are never chosen.

Both rely on uvicorn's ``HttpToolsProtocol`` (``uvicorn[standard]``); the README's *Slow
clients* section says why not another server.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DESCRIPTOR_RESERVE = 128
"""Descriptors kept back from connections for the store, log files and outbound calls."""


def max_connections_for_limit() -> int:
    """The default connection bound: this process's soft descriptor limit less a reserve."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 16_384
    return max(16, soft - DESCRIPTOR_RESERVE)


class _GuardedProtocol(HttpToolsProtocol):
    read_timeout_s: float = 10.0
    max_connections: int = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._reading_since = 0.0

    def _start_reading(self) -> None:
        if self._read_deadline is None:
            self._reading_since = time.monotonic()
            self._read_deadline = self.loop.call_later(self.read_timeout_s, self._too_slow)

    def _stop_reading(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_reading()
        if len(self.connections) > self.max_connections:
            self._close_slowest_reader()

    def _close_slowest_reader(self) -> None:
        readers = [c for c in self.connections if isinstance(c, _GuardedProtocol)
                   and c is not self and c._read_deadline is not None
                   and not c.transport.is_closing()]
        if readers:
            min(readers, key=lambda c: c._reading_since).transport.close()
        else:  # every other connection is being answered: this one waits its turn
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_reading()

    def on_message_complete(self) -> None:
        self._stop_reading()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_reading()
        super().connection_lost(exc)


def guarded_protocol(*, read_timeout_s: float, max_connections: int) -> type[HttpToolsProtocol]:
    """The protocol class to pass as ``uvicorn.run(http=...)``."""
    return type("GuardedHttpProtocol", (_GuardedProtocol,),
                {"read_timeout_s": read_timeout_s, "max_connections": max_connections})
