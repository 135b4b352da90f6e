"""The keyed audit chain: append an event, verify the chain against the key and the anchor.

Each event's ``hash`` column holds its MAC: an HMAC-SHA-256, under a key kept outside the
database (``AuditSeal``), of the previous event's MAC and the event's own canonical JSON.
Changing, removing or reordering a row breaks every later link, and without the key nobody
can recompute the links after an edit. After each commit that appended events, the newest
event's id and MAC are written to the anchor file, so deleting the newest events shows too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from warden.audit.seal import Anchor, AuditSeal, advance_anchor, read_anchor
from warden.errors import UnknownIncident
from warden.store.insert import insert_rows
from warden.store.tables import AuditRow, IncidentRow

GENESIS = "0" * 64
# Serialises appends across PostgreSQL replicas (SQLite's writer lock already does).
_AUDIT_LOCK_ID = 0x57A7DE12

SEAL_INFO_KEY = "warden.audit.seal"
"""Where a session finds its store's ``AuditSeal`` (``Session.info``, set by the Store)."""

UNSEALED = AuditSeal(key=b"", anchor=None, key_origin="no key (a store built without one)")
"""Used by a store built without a seal (tests, tools). Its events never verify under a
real key, so an unsealed process writing to a production database shows at once."""


def event_mac(
    key: bytes, prev_mac: str, *, incident_id: int | None, at: datetime, actor: str,
    kind: str, data: Mapping[str, Any],
) -> str:
    """The MAC of one event given its predecessor's; a pure function of its arguments."""
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
    return hmac.new(key, (prev_mac + body).encode(), hashlib.sha256).hexdigest()


# Built once (building a statement costs more than running it). Events are only ever
# inserted by ``record_many``, with Core, so reading the last one needs no ORM autoflush.
_LAST_EVENT = select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)


def seal_of(session: Session) -> AuditSeal:
    """The seal of the store ``session`` belongs to (``UNSEALED`` when it has none)."""
    seal: AuditSeal = session.info.get(SEAL_INFO_KEY, UNSEALED)
    return seal


def hold_append_lock(session: Session) -> None:
    """Take the append lock (PostgreSQL; SQLite's writer lock already is one) until the
    transaction ends. A transaction that will lock incident rows and then append takes it
    first, so it and the ingest writer (which appends, then locks the next incident) always
    lock in the same order and cannot deadlock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _AUDIT_LOCK_ID})


def lock_incident(session: Session, incident_id: int) -> IncidentRow:
    """Incident ``incident_id``'s row, locked for a change that will be audited: the append
    lock first (``hold_append_lock``). Raises ``UnknownIncident`` when there is none."""
    hold_append_lock(session)
    row = session.execute(
        select(IncidentRow).where(IncidentRow.id == incident_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise UnknownIncident(f"no incident {incident_id}")
    return row


def record(
    session: Session, *, incident_id: int | None, actor: str, kind: str,
    data: Mapping[str, Any], now: datetime,
) -> str:
    """Append one event inside the caller's transaction (it lands or not with the caller's work).

    ``data`` must be JSON-serialisable; it is stored as given after a JSON round trip, so the
    MAC verifies against exactly what the database returns. Returns the event's MAC. When
    the transaction commits, the anchor moves to the newest event (``_anchor_after_commit``).
    """
    return record_many(session, [Event(incident_id, actor, kind, data, now)])[0]


@dataclass(frozen=True, slots=True)
class Event:
    """One event to append: what ``record`` takes."""

    incident_id: int | None
    actor: str
    kind: str
    data: Mapping[str, Any]
    now: datetime


def record_many(session: Session, events: Sequence[Event]) -> list[str]:
    """``record`` each event in the order given, in one insert; returns their MACs.

    The chain is the one that recording them one by one makes, so it verifies the same.
    """
    if not events:
        return []
    hold_append_lock(session)
    connection = session.connection()
    # The innermost transaction (a savepoint, else the whole one) the events are written in.
    transaction = connection.get_nested_transaction() or connection.get_transaction()
    prev = _head_written_in(session, transaction)
    if prev is None:
        last = connection.execute(_LAST_EVENT).first()
        prev = last.hash if last is not None else GENESIS
    key = seal_of(session).key
    rows: list[dict[str, Any]] = []
    for new in events:
        stored = json.loads(json.dumps(dict(new.data), default=str))
        mac = event_mac(key, prev, incident_id=new.incident_id, at=new.now, actor=new.actor,
                        kind=new.kind, data=stored)
        rows.append({"incident_id": new.incident_id, "at": new.now, "actor": new.actor,
                     "kind": new.kind, "data": stored, "prev_hash": prev, "hash": mac})
        prev = mac
    ids = insert_rows(connection, AuditRow, rows)
    session.info[_HEAD_KEY] = _Written(transaction, Anchor(int(ids[-1]), prev),
                                       nested=connection.get_nested_transaction() is not None)
    return [row["hash"] for row in rows]


_HEAD_KEY = "warden.audit.head"
_COMMITTED_HEAD_KEY = "warden.audit.committed_head"


@dataclass(frozen=True, slots=True)
class _Written:
    transaction: object
    head: Anchor
    nested: bool


def _head_written_in(session: Session, transaction: object) -> str | None:
    """The MAC of the event this session wrote last, if it was written in ``transaction``
    and that is still the innermost one; else None (ask the database).

    Saves a query per event when a transaction writes several (an ingest batch). Sound
    because the transaction holds the append lock from its first event on (SQLite's write
    lock, PostgreSQL's advisory lock), so no one else has appended since; a savepoint that
    was rolled back or released is no longer the innermost transaction, so an event written
    in it is never taken for the head.
    """
    written: _Written | None = session.info.get(_HEAD_KEY)
    if written is None or written.transaction is not transaction:
        return None
    return written.head.mac


@event.listens_for(Session, "before_commit")
def _head_before_commit(session: Session) -> None:
    """Note the head this commit makes durable, while the append lock is still held.

    The last event written outside any savepoint is the head for sure. One written in a
    savepoint may have been rolled back with it, so then the database is asked."""
    written: _Written | None = session.info.pop(_HEAD_KEY, None)
    if written is None or session.in_nested_transaction():
        if written is not None:
            session.info[_HEAD_KEY] = written  # a savepoint's release: the real commit comes
        return
    head = written.head
    if written.nested:
        last = session.connection().execute(_LAST_EVENT).first()
        if last is None:
            return
        head = Anchor(last.id, last.hash)
    session.info[_COMMITTED_HEAD_KEY] = head


@event.listens_for(Session, "after_commit")
def _anchor_after_commit(session: Session) -> None:
    head: Anchor | None = session.info.pop(_COMMITTED_HEAD_KEY, None)
    anchor = seal_of(session).anchor
    if head is not None and anchor is not None:
        advance_anchor(anchor, head)


@event.listens_for(Session, "after_rollback")
def _forget_head(session: Session) -> None:
    if not session.in_transaction():
        session.info.pop(_HEAD_KEY, None)
        session.info.pop(_COMMITTED_HEAD_KEY, None)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What verification found: ``problem`` is None when the chain verifies. ``anchored_seq``
    is the id of the event the anchor file named and the chain still holds (None: there
    was no anchor to check, so a cut tail would not have shown)."""

    events: int
    first_broken_id: int | None
    problem: str | None
    anchored_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_rows(rows: Iterable[AuditRow], *, key: bytes, anchor: Anchor | None) -> ChainReport:
    """Check every link of the chain in id order under ``key``, then that the chain still
    holds the ``anchor``ed event with its MAC; name the first event that does not verify.

    Events after the anchor are fine: they were committed after it was last written (or by
    a replica whose anchor file is elsewhere), and they verify by their links."""
    prev = GENESIS
    count = 0
    anchored = False
    for row in rows:
        count += 1
        if row.prev_hash != prev:
            return ChainReport(count, row.id, "its prev_hash does not match the event before it")
        expected = event_mac(key, prev, incident_id=row.incident_id, at=row.at, actor=row.actor,
                             kind=row.kind, data=row.data)
        if not hmac.compare_digest(row.hash, expected):
            return ChainReport(count, row.id, "its MAC does not match its content under the "
                                              "audit key (edited, or written without the key)")
        if anchor is not None and row.id == anchor.seq:
            if row.hash != anchor.mac:
                return ChainReport(count, row.id, "it is not the event the anchor file names "
                                                  "(the chain was rewritten from here)")
            anchored = True
        prev = row.hash
    if anchor is not None and not anchored:
        return ChainReport(count, None, f"the anchor file names event {anchor.seq}, which the "
                                        "chain no longer holds: the newest events were deleted")
    return ChainReport(count, None, None, anchor.seq if anchor is not None else None)


def verify(session: Session) -> ChainReport:
    """Verify the whole chain with the session's seal (its key and its anchor file)."""
    seal = seal_of(session)
    try:
        anchor = read_anchor(seal.anchor) if seal.anchor is not None else None
    except ValueError as exc:
        return ChainReport(0, None, str(exc))
    rows = session.execute(select(AuditRow).order_by(AuditRow.id)).scalars()
    return verify_rows(rows, key=seal.key, anchor=anchor)
