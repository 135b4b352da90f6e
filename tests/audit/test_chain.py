"""The audit chain stays whole when one transaction appends several events, savepoints too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from warden import audit
from warden.audit import SEAL_INFO_KEY, AuditSeal
from warden.store import Store
from warden.store.tables import AuditRow

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _record(session: Session, kind: str) -> str:
    return audit.record(session, incident_id=None, actor="test", kind=kind, data={"k": kind},
                        now=NOW)


def test_events_of_one_transaction_chain_across_savepoints(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    with store.session() as session:
        _record(session, "a")
        _record(session, "b")
        with pytest.raises(RuntimeError), session.begin_nested():
            _record(session, "rolled-back")
            raise RuntimeError("undo the savepoint")
        # Chains to b: the event of the rolled-back savepoint is not the head.
        _record(session, "c")
        with session.begin_nested():
            _record(session, "d")
        _record(session, "e")
    with store.session() as session:
        _record(session, "f")
    with store.session() as session:
        rows = session.execute(select(AuditRow).order_by(AuditRow.id)).scalars().all()
        assert [row.kind for row in rows] == ["a", "b", "c", "d", "e", "f"]
        assert [row.prev_hash for row in rows[1:]] == [row.hash for row in rows[:-1]]
        assert audit.verify(session).ok
    store.dispose()


def test_events_recorded_together_chain_as_recorded_one_by_one(tmp_path: Path) -> None:
    """``record_many`` (one insert for an ingest batch's events) writes the very chain that
    ``record`` writes event by event, so it verifies and a later event links to its tail."""
    seal = {SEAL_INFO_KEY: AuditSeal(key=b"k" * 32, anchor=None, key_origin="test")}
    chains = []
    for name, together in (("together", True), ("one_by_one", False)):
        store = Store(f"sqlite:///{tmp_path / name}.db", session_info=seal)
        store.migrate()
        events = [audit.Event(i, "test", f"kind-{i}", {"n": i}, NOW) for i in range(5)]
        with store.session() as session:
            if together:
                audit.record_many(session, events)
            else:
                for one in events:
                    audit.record(session, incident_id=one.incident_id, actor=one.actor,
                                 kind=one.kind, data=one.data, now=one.now)
        with store.session() as session:
            _record(session, "after")
        with store.session() as session:
            rows = session.execute(select(AuditRow).order_by(AuditRow.id)).scalars().all()
            chains.append([(row.id, row.kind, row.prev_hash, row.hash) for row in rows])
            assert audit.verify(session).ok
        store.dispose()
    assert chains[0] == chains[1]
    assert len(chains[0]) == 6
