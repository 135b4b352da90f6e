"""Fixtures of the fault tests: a SQLite file to run ``warden serve`` on (and an engine to
read what it stored), and the target server that actions and notifications reach."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.fakes.target import target as target
from tests.reliability.process import sqlite_engine


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A fresh SQLite URL and an engine on it."""
    url = f"sqlite:///{tmp_path / 'warden.db'}"
    engine = sqlite_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()
