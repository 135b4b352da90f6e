"""Console sessions in the store: what an unknown, expired, signed-out or rotated-token
cookie gets, read from a real SQLite file as two replicas would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from warden.config import Settings
from warden.store import SessionRow, Store
from warden.web.sessions import (
    SESSION_TTL,
    close_session,
    csrf_ok,
    open_session,
    read_session,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SETTINGS = Settings(api_tokens="alice:tok-alice,vera:tok-vera:viewer")


@pytest.fixture
def store(sqlite_url: str) -> Store:
    store = Store(sqlite_url)
    store.migrate()
    return store


def test_a_session_reads_back_with_its_role_until_it_expires(store: Store) -> None:
    value = open_session(store, "vera", api_token="tok-vera", now=NOW)
    session = read_session(store, SETTINGS, value, now=NOW + SESSION_TTL - timedelta(seconds=1))
    assert session is not None and (session.user, session.role) == ("vera", "viewer")
    assert read_session(store, SETTINGS, value, now=NOW + SESSION_TTL) is None


def test_the_store_holds_neither_the_cookie_nor_the_token(store: Store) -> None:
    value = open_session(store, "alice", api_token="tok-alice", now=NOW)
    with store.session() as db:
        row = db.execute(select(SessionRow)).scalar_one()
    stored = " ".join((row.id_hash, row.token_tag, row.user))
    assert value not in stored and "tok-alice" not in stored


def test_another_replica_sees_a_sign_out_at_once(store: Store, sqlite_url: str) -> None:
    other = Store(sqlite_url)  # a second process on the same database
    value = open_session(store, "alice", api_token="tok-alice", now=NOW)
    assert read_session(other, SETTINGS, value, now=NOW) is not None
    close_session(store, value)
    assert read_session(other, SETTINGS, value, now=NOW) is None


@pytest.mark.parametrize("cookie", ["", "x", "A" * 43])
def test_unknown_cookies_open_nothing(store: Store, cookie: str) -> None:
    open_session(store, "alice", api_token="tok-alice", now=NOW)
    assert read_session(store, SETTINGS, cookie, now=NOW) is None


def test_a_rotated_token_ends_its_sessions(store: Store) -> None:
    value = open_session(store, "alice", api_token="tok-alice", now=NOW)
    rotated = Settings(api_tokens="alice:tok-alice-2")
    assert read_session(store, rotated, value, now=NOW) is None


def test_csrf_tokens_are_per_session(store: Store) -> None:
    one = read_session(store, SETTINGS, open_session(store, "alice", api_token="tok-alice",
                                                     now=NOW), now=NOW)
    two = read_session(store, SETTINGS, open_session(store, "alice", api_token="tok-alice",
                                                     now=NOW), now=NOW)
    assert one is not None and two is not None
    assert csrf_ok(one, one.csrf)
    assert not csrf_ok(one, two.csrf)
    assert not csrf_ok(one, "")
