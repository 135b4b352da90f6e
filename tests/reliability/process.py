"""One real ``warden serve`` process for the fault tests: started on a fixed port, SIGKILLed,
restarted on the same database and port, its stderr kept across restarts, and its memory
read from ``/proc``.

A subprocess (not uvicorn in a thread) because a SIGKILL must take the whole process with
it, mid-write, exactly as an OOM kill or a power-cut of the container would.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine, create_engine

from tests.conftest import free_port
from tests.replicas.cluster import WARDEN, Replica, wait_healthy


@dataclass
class WardenProcess:
    """``warden serve`` with ``env`` on top of this process's environment."""

    env: dict[str, str]
    log: Path
    args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> WardenProcess:
        """Start (or restart) and wait until ``/readyz`` answers 200."""
        assert self.process is None or self.process.poll() is not None, "already running"
        with self.log.open("ab") as stderr:  # appended: a restart keeps the earlier lines
            self.process = subprocess.Popen(
                [WARDEN, "serve", "--port", str(self.port), *self.args],
                env={**os.environ, **self.env}, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        self.starts += 1
        wait_healthy(Replica(self.url, self.process, self.log))
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no lease released."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def rss_kib(self) -> int:
        """Resident memory (VmRSS) of the server process now, in KiB."""
        return rss_kib(self.pid)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def __enter__(self) -> WardenProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of process ``pid`` now, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS line in /proc/{pid}/status")


def sqlite_engine(url: str) -> Engine:
    """An engine to read what the server stored (a second SQLite connection, read-mostly)."""
    return create_engine(url, connect_args={"timeout": 30})
