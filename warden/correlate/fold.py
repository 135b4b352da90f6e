"""Fold an alert into its incident: repeats join the open incident, a resolve closes it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warden import audit
from warden.domain import Alert, AlertStatus, IncidentStatus, Severity, Step
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


_INSERT_INCIDENT = insert(IncidentRow).returning(IncidentRow.id)


def _open(session: Session, alert: Alert, now: datetime, status: IncidentStatus) -> int:
    # A Core INSERT, not an ORM object: every new incident takes this path, and nothing
    # in this transaction needs the object (a later alert of the key loads it by query).
    severity = alert.severity.value if alert.severity else None
    incident_id = int(session.connection().execute(_INSERT_INCIDENT, {
        "key": alert.incident_key,
        "source": alert.source,
        "service": alert.service,
        "title": alert.title,
        "description": alert.description,
        "severity": severity,
        "labels": dict(alert.labels),
        "status": status.value,
        "alert_count": 1,
        "first_seen": now,
        "last_seen": now,
        "resolved_at": now if status is IncidentStatus.RESOLVED else None,
        "pending_step": Step.TRIAGE if status is IncidentStatus.OPEN else None,
    }).scalar_one())
    audit.record(
        session, incident_id=incident_id, actor=f"source:{alert.source}", kind="incident.opened",
        data={"key": alert.incident_key, "service": alert.service, "title": alert.title,
              "severity": severity, "status": status.value},
        now=now,
    )
    return incident_id


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
    if triaged_below and incident.pending_step is None:
        incident.pending_step = Step.TRIAGE
    audit.record(
        session, incident_id=incident.id, actor=f"source:{alert.source}",
        kind="incident.escalated", data={"from": old, "to": new, "retriage": triaged_below},
        now=now,
    )


def _add_alert(
    session: Session, alert: Alert, *, incident_id: int, delivery_id: int, now: datetime
) -> int:
    # A plain INSERT: the hot path of every alert, and nothing reads the row back.
    return int(session.connection().execute(_INSERT_ALERT, {
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
    }).scalar_one())


_INSERT_ALERT = insert(AlertRow).returning(AlertRow.id)


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
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = now
    if incident.pending_step == Step.TRIAGE:
        # Nothing left to triage: the fault went away before a model was asked.
        incident.pending_step = None
    if incident.approval_state == "pending":
        incident.approval_state = "withdrawn"
    if incident.pending_step is None:
        # The incident closes with nothing left to do: its post-mortem is due now. A step
        # still running writes it when it ends (pipeline/stage.py ``finished``).
        incident.pending_step = Step.POSTMORTEM
    audit.record(
        session, incident_id=incident.id, actor="correlate", kind="incident.resolved",
        data={"alert_count": incident.alert_count}, now=now,
    )
    return True
