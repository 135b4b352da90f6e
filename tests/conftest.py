"""Shared fixtures: a real Warden on a real port, over SQLite or PostgreSQL.

``warden_server`` starts ``warden.app``'s FastAPI app under uvicorn in a thread, on a free
loopback port, against a fresh database: a temporary SQLite file, or a fresh PostgreSQL
database on the server named by ``WARDEN_TEST_DATABASE_URL`` (default the local ``test``
database's server) for tests marked ``pg`` or parametrised over ``store_url``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from warden.app import Warden
from warden.config import Settings
from warden.web.app import create_app

pytest_plugins = ["tests.fakes.llm_server"]

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The PostgreSQL server the suite uses. Never skipped: a missing server fails loudly."""
    url = os.environ.get("WARDEN_TEST_DATABASE_URL", PG_DEFAULT)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {url} does not answer ({exc}); .ci/run starts one")
    finally:
        engine.dispose()
    return url


def fresh_pg_database(server_url: str) -> tuple[str, Callable[[], None]]:
    """Create an empty database on the server; returns its URL and a function to drop it."""
    name = f"warden_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(autouse=True)
def audit_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's audit key (and anchor) in its own directory: a PostgreSQL database has
    no file to keep them beside, and tests must not share an anchor."""
    path = tmp_path / "warden-audit.key"
    monkeypatch.setenv("WARDEN_AUDIT_KEY_FILE", str(path))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL; tests using it run once on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warden.db'}"
        return
    url, drop = fresh_pg_database(request.getfixturevalue("pg_server_url"))
    try:
        yield url
    finally:
        drop()


@dataclass
class RunningWarden:
    """A Warden serving on a real port."""

    url: str
    warden: Warden
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)

    def reader(self) -> httpx.Client:
        """A client that may read: it carries the first configured API token, if any (once
        any token is configured, reads need one)."""
        tokens = self.warden.settings.api_tokens
        if not tokens:
            return self.client()
        secret = next(iter(tokens.values())).secret.get_secret_value()
        return self.client(headers={"Authorization": f"Bearer {secret}"})

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Poll until ``predicate()`` holds (the worker runs asynchronously)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"condition not met within {timeout_s} s")


def start_warden(settings: Settings, *, tls: tuple[Path, Path] | None = None,
                 **warden_kwargs: Any) -> RunningWarden:
    """Serve Warden on a free port; over HTTPS with ``tls`` (certificate, key files)."""
    port = free_port()
    warden = Warden(settings, **warden_kwargs)
    certificate, key = tls or (None, None)
    config = uvicorn.Config(create_app(warden), host="127.0.0.1", port=port, log_config=None,
                            lifespan="on", ssl_certfile=certificate, ssl_keyfile=key)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("Warden did not start")
        time.sleep(0.02)
    scheme = "https" if tls else "http"
    return RunningWarden(f"{scheme}://127.0.0.1:{port}", warden, server, thread)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warden.db'}"


@pytest.fixture
def warden_server(sqlite_url: str) -> Iterator[Callable[..., RunningWarden]]:
    """Start Warden with settings overrides: ``warden_server(api_tokens="alice:t")``.

    The database defaults to a fresh SQLite file; pass ``database_url`` to choose another.
    """
    started: list[RunningWarden] = []

    def start(**overrides: Any) -> RunningWarden:
        overrides.setdefault("database_url", sqlite_url)
        running = start_warden(Settings(**overrides))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


# Browser ---------------------------------------------------------------------------------
# One Chromium for the whole session, defined here so every folder shares it: a second
# session-scoped sync_playwright() in the same thread refuses to start.

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) sized like a laptop screen."""
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()
