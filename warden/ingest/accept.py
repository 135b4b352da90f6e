"""Accept one delivery: authenticate, decode, parse, and store it before acknowledging."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warden.config import Settings
from warden.correlate import Arrival, Folded, fold_many
from warden.domain import Alert, AlertStatus
from warden.errors import (
    MalformedJSONError,
    PayloadError,
    UnknownSourceError,
)
from warden.ingest import auth
from warden.ingest.sources import ADAPTERS
from warden.store import DeliveryRow, IncidentRow, Store, insert_rows


@dataclass(frozen=True, slots=True)
class Delivery:
    """A request as it arrived: the source named in the URL, the raw body, its headers."""

    source: str
    body: bytes
    headers: Mapping[str, str]
    content_type: str = ""


MAX_JSON_DEPTH = 32
"""How deeply arrays and objects may nest in a delivery (the top level is depth 1). Real
senders nest four or five levels; the views render far deeper than this, so whatever is
stored can always be shown (tests/reliability/test_stored_input_shows.py)."""


def decode_json(body: bytes) -> object:
    """Strict JSON: UTF-8 only, no lone surrogates (raw or ``\\udc00``-escaped, in keys
    or values), no NaN or Infinity, nesting at most ``MAX_JSON_DEPTH`` deep.

    Raises ``MalformedJSONError`` (400) for what is not such JSON and ``PayloadError``
    (422) for JSON nested too deeply; either way nothing has been stored.
    """
    if body.startswith(b"\xef\xbb\xbf"):
        raise MalformedJSONError("the body starts with a byte-order mark")
    try:
        # orjson refuses invalid UTF-8, lone surrogates and NaN itself (the stdlib parser
        # accepts an escaped lone surrogate, which no view can encode again), and parses
        # several times faster.
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSONError(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    _refuse_deep(value)
    return value


_Container = dict[str, object] | list[object]


def _refuse_deep(value: object) -> None:
    """Raise ``PayloadError`` naming the first container nested past ``MAX_JSON_DEPTH``."""
    # Depths only on the way down (this runs on every delivery); the path is worked out
    # again only for a body that is refused.
    stack: list[tuple[_Container, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        children: Iterable[object] = node.values() if isinstance(node, dict) else node
        nested = [child for child in children if isinstance(child, dict | list)]
        if nested and depth == MAX_JSON_DEPTH:
            raise PayloadError(
                f"the JSON nests arrays and objects more than {MAX_JSON_DEPTH} levels deep",
                _path_past_limit(value, 1, "$")[:200])
        stack.extend((child, depth + 1) for child in nested)


def _path_past_limit(node: object, depth: int, where: str) -> str:
    """The JSON path of a container at depth ``MAX_JSON_DEPTH + 1`` under ``node`` (at
    ``depth``, reached by ``where``), else ""; the recursion is bounded by that depth."""
    if depth > MAX_JSON_DEPTH:
        return where
    steps: Iterable[tuple[str, object]]
    if isinstance(node, dict):
        steps = ((f".{key}", child) for key, child in node.items())
    elif isinstance(node, list):
        steps = ((f"[{i}]", child) for i, child in enumerate(node))
    else:
        return ""
    for step, child in steps:
        found = _path_past_limit(child, depth + 1, where + step)
        if found:
            return found
    return ""


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


def store_parsed(session: Session, parsed: Parsed) -> list[Folded]:
    """Store the delivery verbatim and fold each alert, inside the caller's transaction."""
    return store_many(session, [parsed])[0]


def store_many(session: Session, batch: Sequence[Parsed]) -> list[list[Folded]]:
    """``store_parsed`` for each delivery in turn, with the same outcome, in fewer round
    trips: the deliveries are inserted in one statement and their alerts folded together
    (``correlate.fold_many``)."""
    delivery_ids = insert_rows(session.connection(), DeliveryRow, [{
        "source": parsed.delivery.source, "received_at": parsed.received_at,
        "content_type": parsed.delivery.content_type[:255], "body": parsed.delivery.body,
    } for parsed in batch])
    arrivals: list[Arrival] = []
    places: list[tuple[int, int]] = []  # (delivery, alert) of each arrival
    for d, (parsed, delivery_id) in enumerate(zip(batch, delivery_ids, strict=True)):
        for i in _firing_first(parsed.alerts):
            arrivals.append(Arrival(parsed.alerts[i], delivery_id, parsed.received_at))
            places.append((d, i))
    folded = dict(zip(places, fold_many(session, arrivals), strict=True))
    return [[folded[d, i] for i in range(len(parsed.alerts))] for d, parsed in enumerate(batch)]


def _firing_first(alerts: Sequence[Alert]) -> list[int]:
    """The alerts' indexes, firing before resolved: a notification that resolves one alert
    of a group and fires another must not close the incident in between (Alertmanager
    orders alerts by labels, not by status)."""
    return sorted(range(len(alerts)), key=lambda i: alerts[i].status is AlertStatus.RESOLVED)


def pending_work(store: Store) -> int:
    """How many incidents wait for the worker: the queue that backpressure protects."""
    with store.session() as session:
        return session.execute(
            select(func.count()).select_from(IncidentRow)
            .where(IncidentRow.pending_step.is_not(None))
        ).scalar_one()
