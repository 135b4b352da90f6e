"""Accept one change delivery: authenticate, parse, and store it before acknowledging."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from warden.changes._change import Change, Ignored
from warden.changes.sources import change_adapters
from warden.config import Settings
from warden.domain import service_key
from warden.errors import OverloadedError, UnknownSourceError
from warden.ingest import auth
from warden.ingest.accept import Delivery
from warden.store import ChangeRow, DeliveryRow, Store


def auth_source(sender: str) -> str:
    """The source name a sender's credentials are configured under (``changes-github``)."""
    return f"changes-{sender}"


@dataclass(frozen=True, slots=True)
class Recorded:
    """A change stored by this delivery, or (``duplicate``) by an earlier one."""

    change_id: int
    sender_key: str
    duplicate: bool


def parse_change(
    sender: str, delivery: Delivery, *, settings: Settings, now: datetime
) -> Change | Ignored:
    """Authenticate and parse a delivery from ``sender``; touches no store.

    Credentials are those of the source ``changes-{sender}`` (bearer, basic or HMAC, as
    for alert sources). Raises ``UnknownSourceError``, ``AuthError`` or ``PayloadError``.
    """
    adapter = change_adapters(settings).get(sender)
    if adapter is None:
        known = ", ".join(sorted(change_adapters(settings)))
        raise UnknownSourceError(f"unknown change sender {sender[:64]!r}; known: {known}")
    auth.check(auth_source(sender), headers=delivery.headers, body=delivery.body,
               settings=settings, now=now.timestamp())
    return adapter.parse(delivery, received_at=now)


def record(session: Session, change: Change, *, delivery: Delivery,
           received_at: datetime) -> Recorded:
    """Store ``change`` and its delivery verbatim in the caller's transaction, unless the
    same sender already reported it (same ``sender_key``): then nothing is written.

    Idempotent under concurrent redeliveries: the store's unique key decides the race.
    """
    existing = _find(session, change)
    if existing is not None:
        return Recorded(existing, change.sender_key, duplicate=True)
    try:
        with session.begin_nested():
            delivery_id = session.execute(insert(DeliveryRow).returning(DeliveryRow.id), {
                "source": delivery.source, "received_at": received_at,
                "content_type": delivery.content_type[:255], "body": delivery.body,
            }).scalar_one()
            change_id = session.execute(insert(ChangeRow).returning(ChangeRow.id), {
                "delivery_id": delivery_id, "source": change.source,
                "sender_key": change.sender_key, "service": change.service,
                "service_key": service_key(change.service), "kind": str(change.kind),
                "version": change.version, "summary": change.summary,
                "author": change.author, "link": change.link, "at": change.at,
                "received_at": received_at,
            }).scalar_one()
    except IntegrityError:
        existing = _find(session, change)
        if existing is None:
            raise
        return Recorded(existing, change.sender_key, duplicate=True)
    return Recorded(change_id, change.sender_key, duplicate=False)


def _find(session: Session, change: Change) -> int | None:
    return session.execute(select(ChangeRow.id).where(
        ChangeRow.source == change.source, ChangeRow.sender_key == change.sender_key,
    )).scalar_one_or_none()


def accept_change(
    store: Store, sender: str, delivery: Delivery, *, settings: Settings, now: datetime
) -> Recorded | Ignored:
    """Parse and store one change delivery in a transaction of its own; returning means
    committed (or ignored: nothing to store).

    Raises ``IngestError`` (nothing stored) for bad input and ``OverloadedError`` (nothing
    stored) when the store cannot take the write.
    """
    parsed = parse_change(sender, delivery, settings=settings, now=now)
    if isinstance(parsed, Ignored):
        return parsed
    try:
        with store.session() as session:
            return record(session, parsed, delivery=delivery, received_at=now)
    except OperationalError as exc:
        raise OverloadedError(f"the store cannot take the write: {exc.orig}") from exc
