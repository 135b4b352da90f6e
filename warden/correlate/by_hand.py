"""What a person does to an incident by hand: take it on (acknowledge) or close it (resolve).

Both run inside the caller's transaction, lock the incident row, and are audited with who
did it. Acknowledgement is its own field: the status stays ``open`` or ``resolved``
(ARCHITECTURE.md, *Settled details*).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from warden import audit
from warden.correlate._close import close_incident
from warden.domain import IncidentStatus
from warden.errors import AlreadyResolved
from warden.store.tables import IncidentRow


@dataclass(frozen=True, slots=True)
class HandState:
    """An incident's status and acknowledgement after a hand action."""

    incident_id: int
    status: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None


def _state(row: IncidentRow) -> HandState:
    return HandState(row.id, row.status, row.acknowledged_by, row.acknowledged_at,
                     row.resolved_at)


def acknowledge(session: Session, incident_id: int, *, user: str, now: datetime) -> HandState:
    """``user`` takes the incident on; audited as ``incident.acknowledged``.

    Idempotent: an incident acknowledged before keeps its first acknowledgement and
    nothing more is recorded. A resolved incident cannot be acknowledged
    (``AlreadyResolved``, 409); an unknown one raises ``UnknownIncident`` (404).
    """
    row = audit.lock_incident(session, incident_id)
    if row.acknowledged_by is not None:
        return _state(row)
    if row.status == IncidentStatus.RESOLVED:
        raise AlreadyResolved(f"incident {incident_id} is resolved already")
    row.acknowledged_by, row.acknowledged_at = user, now
    audit.record(session, incident_id=row.id, actor=user, kind="incident.acknowledged",
                 data={}, now=now)
    return _state(row)


def resolve(session: Session, incident_id: int, *, user: str, now: datetime) -> HandState:
    """``user`` closes the incident: status ``resolved``, audited as ``incident.resolved``
    with ``{"by_hand": true}``; a pending approval is withdrawn, so nothing more runs.

    An incident resolved already raises ``AlreadyResolved`` (409) and changes nothing.
    """
    row = audit.lock_incident(session, incident_id)
    if row.status == IncidentStatus.RESOLVED:
        raise AlreadyResolved(f"incident {incident_id} is resolved already")
    close_incident(session, row, actor=user, data={"by_hand": True}, now=now)
    return _state(row)
