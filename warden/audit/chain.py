"""The hash-chained audit log: append an event, verify the chain.

Each event's ``hash`` is the SHA-256 of the previous event's hash and the event's own
canonical JSON, so changing, removing or reordering any row breaks every later link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from warden.store.tables import AuditRow

GENESIS = "0" * 64
# Serialises appends across PostgreSQL replicas (SQLite's writer lock already does).
_AUDIT_LOCK_ID = 0x57A7DE12


def event_hash(
    prev_hash: str, *, incident_id: int | None, at: datetime, actor: str, kind: str,
    data: Mapping[str, Any],
) -> str:
    """The hash of one event given its predecessor's; a pure function of its arguments."""
    body = json.dumps(
        {
            "incident_id": incident_id,
            "at": at.isoformat(),
            "actor": actor,
            "kind": kind,
            "data": data,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


_INSERT_EVENT = insert(AuditRow)
# Built once (building a statement costs more than running it). Events are only ever
# inserted by ``record``, with Core, so reading the last one needs no ORM autoflush.
_LAST_HASH = select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)


def record(
    session: Session, *, incident_id: int | None, actor: str, kind: str,
    data: Mapping[str, Any], now: datetime,
) -> str:
    """Append one event inside the caller's transaction (it lands or not with the caller's work).

    ``data`` must be JSON-serialisable; it is stored as given after a JSON round trip, so the
    hash verifies against exactly what the database returns. Returns the event's hash.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _AUDIT_LOCK_ID})
    stored = json.loads(json.dumps(dict(data), default=str))
    connection = session.connection()
    # The innermost transaction (a savepoint, else the whole one) the event is written in.
    transaction = connection.get_nested_transaction() or connection.get_transaction()
    prev = _head_written_in(session, transaction)
    if prev is None:
        prev = connection.execute(_LAST_HASH).scalar_one_or_none() or GENESIS
    digest = event_hash(prev, incident_id=incident_id, at=now, actor=actor, kind=kind,
                        data=stored)
    connection.execute(_INSERT_EVENT, {
        "incident_id": incident_id, "at": now, "actor": actor, "kind": kind, "data": stored,
        "prev_hash": prev, "hash": digest,
    })
    session.info[_HEAD_KEY] = (transaction, digest)
    return digest


_HEAD_KEY = "warden.audit.head"


def _head_written_in(session: Session, transaction: object) -> str | None:
    """The hash of the event this session wrote last, if it was written in ``transaction``
    and that is still the innermost one; else None (ask the database).

    Saves a query per event when a transaction writes several (an ingest batch). Sound
    because the transaction holds the append lock from its first event on (SQLite's write
    lock, PostgreSQL's advisory lock), so no one else has appended since; a savepoint that
    was rolled back or released is no longer the innermost transaction, so an event written
    in it is never taken for the head.
    """
    written = session.info.get(_HEAD_KEY)
    if written is None or written[0] is not transaction:
        return None
    digest: str = written[1]
    return digest


@dataclass(frozen=True, slots=True)
class ChainReport:
    events: int
    first_broken_id: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


def verify_rows(rows: Iterable[AuditRow]) -> ChainReport:
    """Check every link of the chain in id order; name the first event that does not verify."""
    prev = GENESIS
    count = 0
    for row in rows:
        count += 1
        if row.prev_hash != prev:
            return ChainReport(count, row.id, "its prev_hash does not match the event before it")
        expected = event_hash(prev, incident_id=row.incident_id, at=row.at, actor=row.actor,
                              kind=row.kind, data=row.data)
        if row.hash != expected:
            return ChainReport(count, row.id, "its content does not match its hash")
        prev = row.hash
    return ChainReport(count, None, None)


def verify(session: Session) -> ChainReport:
    rows = session.execute(select(AuditRow).order_by(AuditRow.id)).scalars()
    return verify_rows(rows)
