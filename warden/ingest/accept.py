"""Accept one delivery: authenticate, decode, parse, and store it before acknowledging."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from warden.config import Settings
from warden.correlate import Folded, fold
from warden.domain import Alert, AlertStatus
from warden.errors import (
    MalformedJSONError,
    OverloadedError,
    PayloadError,
    UnknownSourceError,
)
from warden.ingest import auth
from warden.ingest.sources import ADAPTERS
from warden.store import DeliveryRow, IncidentRow, Store


@dataclass(frozen=True, slots=True)
class Delivery:
    """A request as it arrived: the source named in the URL, the raw body, its headers."""

    source: str
    body: bytes
    headers: Mapping[str, str]
    content_type: str = ""


def decode_json(body: bytes) -> object:
    """Strict JSON: UTF-8 only, no NaN or Infinity, a bounded depth."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSONError(f"the body is not valid UTF-8 (byte {exc.start})") from exc
    if text.startswith("\ufeff"):
        raise MalformedJSONError("the body starts with a byte-order mark")

    def refuse_constant(name: str) -> object:
        raise MalformedJSONError(f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise MalformedJSONError(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise MalformedJSONError("the JSON is nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer over Python's digit limit
        raise MalformedJSONError(f"unusable JSON: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Parsed:
    """A delivery that passed authentication and parsing: ready to store."""

    delivery: Delivery
    alerts: tuple[Alert, ...]
    received_at: datetime


def parse(delivery: Delivery, *, settings: Settings, now: datetime) -> Parsed:
    """Authenticate and parse a delivery; touches no store.

    Raises an ``IngestError`` for an unknown source, bad credentials, or a payload that is
    not JSON or has the wrong shape.
    """
    adapter = ADAPTERS.get(delivery.source)
    if adapter is None:
        raise UnknownSourceError(
            f"unknown source {delivery.source!r}; known: {', '.join(sorted(ADAPTERS))}"
        )
    auth.check(delivery.source, headers=delivery.headers, body=delivery.body,
               settings=settings, now=now.timestamp())
    alerts = adapter.parse(decode_json(delivery.body), received_at=now)
    if not alerts:
        raise PayloadError("the payload holds no alerts", "$")
    return Parsed(delivery, tuple(alerts), now)


# In the parameters' order, so the ids of a many-row insert map back to their deliveries.
_INSERT_DELIVERY = insert(DeliveryRow).returning(DeliveryRow.id, sort_by_parameter_order=True)


def store_parsed(session: Session, parsed: Parsed) -> list[Folded]:
    """Store the delivery verbatim and fold each alert, inside the caller's transaction."""
    return store_many(session, [parsed])[0]


def store_many(session: Session, batch: Sequence[Parsed]) -> list[list[Folded]]:
    """``store_parsed`` for each delivery in turn, the deliveries inserted in one statement
    (one round trip per batch instead of one per delivery)."""
    delivery_ids = session.connection().execute(_INSERT_DELIVERY, [{
        "source": parsed.delivery.source, "received_at": parsed.received_at,
        "content_type": parsed.delivery.content_type[:255], "body": parsed.delivery.body,
    } for parsed in batch]).scalars().all()
    return [_fold_all(session, parsed, delivery_id)
            for parsed, delivery_id in zip(batch, delivery_ids, strict=True)]


def _fold_all(session: Session, parsed: Parsed, delivery_id: int) -> list[Folded]:
    alerts, now = parsed.alerts, parsed.received_at
    # Firing before resolved: a notification that resolves one alert of a group and fires
    # another must not close the incident in between (Alertmanager orders alerts by
    # labels, not by status). Results keep the payload's order.
    order = sorted(range(len(alerts)), key=lambda i: alerts[i].status is AlertStatus.RESOLVED)
    folded: dict[int, Folded] = {}
    for i in order:
        folded[i] = fold(session, alerts[i], delivery_id=delivery_id, now=now)
    return [folded[i] for i in range(len(alerts))]


def accept(
    store: Store, delivery: Delivery, *, settings: Settings, now: datetime, queue_full: bool
) -> list[Folded]:
    """Parse and store one delivery in a transaction of its own; returning means committed.

    Raises ``IngestError`` (nothing stored) for bad input and ``OverloadedError`` (nothing
    stored) when the work queue is full or the store cannot take the write. The HTTP route
    uses ``IngestWriter`` instead, which commits many deliveries at once.
    """
    parsed = parse(delivery, settings=settings, now=now)
    if queue_full:
        raise OverloadedError("the triage queue is full; retry later")
    try:
        with store.session() as session:
            return store_parsed(session, parsed)
    except OperationalError as exc:
        raise OverloadedError(f"the store cannot take the write: {exc.orig}") from exc


def pending_work(store: Store) -> int:
    """How many incidents wait for the worker: the queue that backpressure protects."""
    with store.session() as session:
        return session.execute(
            select(func.count()).select_from(IncidentRow)
            .where(IncidentRow.pending_step.is_not(None))
        ).scalar_one()
