"""The audit chain stays whole when one transaction appends several events, savepoints too."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from warden import audit
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
