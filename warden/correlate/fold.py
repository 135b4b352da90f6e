"""Fold an alert into its incident: repeats join the open incident, a resolve closes it."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warden import audit
from warden.correlate._close import close_incident
from warden.domain import Alert, AlertStatus, IncidentStatus, Severity
from warden.pipeline.transitions import Entry, enter, entered
from warden.store.insert import insert_rows
from warden.store.tables import AlertRow, IncidentRow


@dataclass(frozen=True, slots=True)
class Folded:
    """Where one alert went: its stored id, its incident, and what changed."""

    alert_id: int
    incident_id: int
    duplicate: bool
    opened: bool = False
    resolved: bool = False


def _severity_rank(value: str | None) -> int:
    return Severity(value).rank if value else -1


def fold(session: Session, alert: Alert, *, delivery_id: int, now: datetime) -> Folded:
    """Store ``alert`` and fold it into its incident, inside the caller's transaction.

    Idempotent on ``(alert.source, alert.dedup_key)``: a delivery seen before returns the
    original ids with ``duplicate=True`` and changes nothing. At most one incident per key
    is open at a time; the database's partial unique index decides a race between replicas.
    """
    seen = _find_duplicate(session, alert)
    if seen is not None and alert.status is AlertStatus.FIRING:
        refire = _refire_identity(session, alert, seen)
        if refire is not alert:
            alert, seen = refire, _find_duplicate(session, refire)
    if seen is not None:
        return seen
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's single writer (see store/db.py) leaves no race to retry.
        return _fold_new(session, alert, delivery_id=delivery_id, now=now)
    try:
        with session.begin_nested():
            return _fold_new(session, alert, delivery_id=delivery_id, now=now)
    except IntegrityError:
        # Another replica stored this delivery or opened this incident first: retry once
        # against what it committed.
        seen = _find_duplicate(session, alert)
        if seen is not None:
            return seen
        with session.begin_nested():
            return _fold_new(session, alert, delivery_id=delivery_id, now=now)


@dataclass(frozen=True, slots=True)
class Arrival:
    """An alert to fold, with the delivery it came in and when that was received."""

    alert: Alert
    delivery_id: int
    now: datetime


def fold_many(session: Session, arrivals: Sequence[Arrival]) -> list[Folded]:
    """``fold`` each arrival in the order given, inside the caller's transaction: the same
    outcome (its ``Folded`` for each, in order), in fewer statements.

    An alert that opens an incident of its own (firing, its delivery never seen, its key
    with no open incident, neither shared with another arrival) neither affects nor is
    affected by any other arrival, so all such alerts are stored together: one query for
    known deliveries, one for open keys, one insert of incidents and one of alerts. The
    rest are folded one by one. On SQLite only, whose single writer leaves no race: on
    PostgreSQL a replica may commit the same delivery or key meanwhile, which ``fold``
    retries alert by alert.
    """
    if session.get_bind().dialect.name != "sqlite":
        return [fold(session, a.alert, delivery_id=a.delivery_id, now=a.now) for a in arrivals]
    alone = _opening_alone(session, arrivals)
    folded = dict(zip(alone, _open_all(session, [arrivals[i] for i in alone]), strict=True))
    for i, arrival in enumerate(arrivals):
        if i not in folded:
            folded[i] = fold(session, arrival.alert, delivery_id=arrival.delivery_id,
                             now=arrival.now)
    return [folded[i] for i in range(len(arrivals))]


# Bound parameters per statement stay far below SQLite's limit (999 before 3.32).
_CHUNK = 400
_KNOWN_DELIVERIES = select(AlertRow.source, AlertRow.dedup_key).where(
    AlertRow.source.in_(bindparam("sources", expanding=True)),
    AlertRow.dedup_key.in_(bindparam("dedup_keys", expanding=True)),
)
_OPEN_KEYS = select(IncidentRow.key).where(
    IncidentRow.key.in_(bindparam("keys", expanding=True)),
    IncidentRow.status == IncidentStatus.OPEN,
)


def _opening_alone(session: Session, arrivals: Sequence[Arrival]) -> list[int]:
    """The indexes of the arrivals that open an incident of their own (see ``fold_many``)."""
    deliveries = Counter((a.alert.source, a.alert.dedup_key) for a in arrivals)
    keys = Counter(a.alert.incident_key for a in arrivals)
    candidates = [
        i for i, a in enumerate(arrivals)
        if a.alert.status is AlertStatus.FIRING
        and deliveries[a.alert.source, a.alert.dedup_key] == 1 and keys[a.alert.incident_key] == 1
    ]
    connection = session.connection()
    known: set[tuple[str, str]] = set()
    open_keys: set[str] = set()
    for start in range(0, len(candidates), _CHUNK):
        alerts = [arrivals[i].alert for i in candidates[start:start + _CHUNK]]
        known.update((row.source, row.dedup_key) for row in connection.execute(
            _KNOWN_DELIVERIES, {"sources": sorted({a.source for a in alerts}),
                                "dedup_keys": [a.dedup_key for a in alerts]}))
        open_keys.update(connection.execute(
            _OPEN_KEYS, {"keys": [a.incident_key for a in alerts]}).scalars())
    return [i for i in candidates
            if (arrivals[i].alert.source, arrivals[i].alert.dedup_key) not in known
            and arrivals[i].alert.incident_key not in open_keys]


def _open_all(session: Session, arrivals: Sequence[Arrival]) -> list[Folded]:
    """Open an incident for each arrival and store the alert in it: two many-row inserts."""
    if not arrivals:
        return []
    connection = session.connection()
    incident_ids = insert_rows(connection, IncidentRow, [
        _incident_values(a.alert, a.now, IncidentStatus.OPEN) for a in arrivals])
    audit.record_many(session, [
        _opened_event(a.alert, incident_id, a.now, IncidentStatus.OPEN)
        for a, incident_id in zip(arrivals, incident_ids, strict=True)
    ])
    alert_ids = insert_rows(connection, AlertRow, [
        _alert_values(a.alert, incident_id=incident_id, delivery_id=a.delivery_id, now=a.now)
        for a, incident_id in zip(arrivals, incident_ids, strict=True)])
    return [Folded(alert_id, incident_id, duplicate=False, opened=True)
            for alert_id, incident_id in zip(alert_ids, incident_ids, strict=True)]


# The hot path's statements are built once: building and cache-keying a statement costs
# more than running it. Alerts are only ever inserted with Core statements, so these
# Core reads of alerts need no ORM autoflush.
_FIND_DUPLICATE = select(AlertRow.id, AlertRow.incident_id).where(
    AlertRow.source == bindparam("source"), AlertRow.dedup_key == bindparam("dedup_key")
)


def _find_duplicate(session: Session, alert: Alert) -> Folded | None:
    row = session.connection().execute(
        _FIND_DUPLICATE, {"source": alert.source, "dedup_key": alert.dedup_key}
    ).first()
    return Folded(row.id, row.incident_id, duplicate=True) if row else None


def _refire_identity(session: Session, alert: Alert, seen: Folded) -> Alert:
    """A firing alert seen before, but resolved since, is firing again, not a duplicate.

    Prometheus keeps an alert's ``startsAt`` when Alertmanager timed it out and it comes
    back, so the delivery looks like the first one. It is stored under a key derived from
    the resolve it follows, so HA copies of the re-fire still collapse into one.
    """
    resolve_id = session.execute(
        select(func.max(AlertRow.id)).where(
            AlertRow.incident_id == seen.incident_id,
            AlertRow.fingerprint == alert.fingerprint,
            AlertRow.status == AlertStatus.RESOLVED,
            AlertRow.id > seen.alert_id,
        )
    ).scalar_one_or_none()
    if resolve_id is None:
        return alert
    refire = hashlib.sha256(f"{alert.dedup_key}:refire:{resolve_id}".encode()).hexdigest()
    return replace(alert, dedup_key=refire)


_OPEN_INCIDENT_ID = select(IncidentRow.id).where(
    IncidentRow.key == bindparam("key"), IncidentRow.status == IncidentStatus.OPEN
).with_for_update()


def _open_incident(session: Session, key: str) -> IncidentRow | None:
    # Asked with Core (an ORM query costs several times more, and most keys have no open
    # incident), so flush first what the ORM would have: an incident resolved earlier in
    # this transaction must not be found open.
    session.flush()
    incident_id = session.connection().execute(_OPEN_INCIDENT_ID, {"key": key}).scalar()
    return None if incident_id is None else session.get(IncidentRow, incident_id)


def _fold_new(session: Session, alert: Alert, *, delivery_id: int, now: datetime) -> Folded:
    incident = _open_incident(session, alert.incident_key)
    if incident is None and alert.status is AlertStatus.FIRING:
        return _fold_opening(session, alert, delivery_id=delivery_id, now=now)
    resolved = False
    if incident is None:
        # A resolve for nothing open: keep it with the latest incident of that key, or
        # record that it happened (a resolved incident with nothing to triage).
        incident = session.execute(
            select(IncidentRow).where(IncidentRow.key == alert.incident_key)
            .order_by(IncidentRow.id.desc()).limit(1)
        ).scalar_one_or_none()
        if incident is None:
            return _fold_opening(session, alert, delivery_id=delivery_id, now=now,
                                 status=IncidentStatus.RESOLVED)
    else:
        incident.alert_count += 1
        incident.last_seen = max(incident.last_seen, now)
        if alert.status is AlertStatus.FIRING:
            _escalate(session, incident, alert, now)

    alert_id = _add_alert(session, alert, incident_id=incident.id, delivery_id=delivery_id,
                          now=now)
    if alert.status is AlertStatus.RESOLVED and incident.status == IncidentStatus.OPEN:
        resolved = _resolve_if_quiet(session, incident, now)
    return Folded(alert_id, incident.id, duplicate=False, resolved=resolved)


def _fold_opening(
    session: Session, alert: Alert, *, delivery_id: int, now: datetime,
    status: IncidentStatus = IncidentStatus.OPEN,
) -> Folded:
    """The alert opens an incident of its own (the first of its key, or a stray resolve)."""
    incident_id = _open(session, alert, now, status)
    alert_id = _add_alert(session, alert, incident_id=incident_id, delivery_id=delivery_id,
                          now=now)
    return Folded(alert_id, incident_id, duplicate=False, opened=True)


def _open(session: Session, alert: Alert, now: datetime, status: IncidentStatus) -> int:
    # A Core INSERT, not an ORM object: every new incident takes this path, and nothing
    # in this transaction needs the object (a later alert of the key loads it by query).
    [incident_id] = insert_rows(session.connection(), IncidentRow,
                                [_incident_values(alert, now, status)])
    _record_opened(session, alert, incident_id, now, status)
    return incident_id


def _incident_values(alert: Alert, now: datetime, status: IncidentStatus) -> dict[str, object]:
    return {
        "key": alert.incident_key,
        "source": alert.source,
        "service": alert.service,
        "title": alert.title,
        "description": alert.description,
        "severity": alert.severity.value if alert.severity else None,
        "labels": dict(alert.labels),
        "status": status.value,
        "alert_count": 1,
        "first_seen": now,
        "last_seen": now,
        "resolved_at": now if status is IncidentStatus.RESOLVED else None,
        "pending_step": entered(None, Entry.OPENED if status is IncidentStatus.OPEN
                                else Entry.OPENED_RESOLVED),
    }


def _record_opened(
    session: Session, alert: Alert, incident_id: int, now: datetime, status: IncidentStatus
) -> None:
    audit.record_many(session, [_opened_event(alert, incident_id, now, status)])


def _opened_event(
    alert: Alert, incident_id: int, now: datetime, status: IncidentStatus
) -> audit.Event:
    return audit.Event(
        incident_id, f"source:{alert.source}", "incident.opened",
        {"key": alert.incident_key, "service": alert.service, "title": alert.title,
         "severity": alert.severity.value if alert.severity else None, "status": status.value},
        now,
    )


def _escalate(session: Session, incident: IncidentRow, alert: Alert, now: datetime) -> None:
    """A repeat with a higher severity raises the incident's; if it was triaged below
    that, triage runs again (the only case where a repeat costs a model call)."""
    new = alert.severity.value if alert.severity else None
    if _severity_rank(new) <= _severity_rank(incident.severity):
        return
    old = incident.severity
    incident.severity = new
    triaged_below = incident.triaged_at is not None and _severity_rank(
        incident.triaged_severity) < _severity_rank(new)
    if triaged_below:
        enter(incident, Entry.ESCALATED)
    audit.record(
        session, incident_id=incident.id, actor=f"source:{alert.source}",
        kind="incident.escalated", data={"from": old, "to": new, "retriage": triaged_below},
        now=now,
    )


def _add_alert(
    session: Session, alert: Alert, *, incident_id: int, delivery_id: int, now: datetime
) -> int:
    # A plain INSERT: the hot path of every alert, and nothing reads the row back.
    [alert_id] = insert_rows(session.connection(), AlertRow, [
        _alert_values(alert, incident_id=incident_id, delivery_id=delivery_id, now=now)])
    return alert_id


def _alert_values(
    alert: Alert, *, incident_id: int, delivery_id: int, now: datetime
) -> dict[str, object]:
    return {
        "delivery_id": delivery_id,
        "incident_id": incident_id,
        "source": alert.source,
        "dedup_key": alert.dedup_key,
        "fingerprint": alert.fingerprint,
        "service": alert.service,
        "title": alert.title,
        "description": alert.description,
        "severity": alert.severity.value if alert.severity else None,
        "labels": dict(alert.labels),
        "status": alert.status.value,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "raw": dict(alert.raw),
        "received_at": now,
    }


def _resolve_if_quiet(session: Session, incident: IncidentRow, now: datetime) -> bool:
    """Resolve the incident once the newest alert of every fingerprint in it is resolved."""
    newest = (
        select(AlertRow.fingerprint, func.max(AlertRow.id).label("last_id"))
        .where(AlertRow.incident_id == incident.id)
        .group_by(AlertRow.fingerprint)
        .subquery()
    )
    still_firing = session.execute(
        select(func.count()).select_from(AlertRow).join(newest, AlertRow.id == newest.c.last_id)
        .where(AlertRow.status == AlertStatus.FIRING)
    ).scalar_one()
    if still_firing:
        return False
    close_incident(session, incident, actor="correlate",
                   data={"alert_count": incident.alert_count}, now=now)
    return True
