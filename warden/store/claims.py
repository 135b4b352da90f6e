"""Work claiming: one worker at a time holds an incident's pending step, under a lease.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets replicas claim different incidents without
waiting on each other; SQLite's single writer lock gives the same guarantee on one host.
A worker that dies stops renewing its lease and another claims the step once it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from warden.store.tables import IncidentRow

# A step claimed this many times without finishing (each try crashed or raised) is
# abandoned and left to a human, instead of failing forever.
MAX_STEP_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Claim:
    incident_id: int
    step: str
    attempt: int


def claim_next(session: Session, *, owner: str, now: datetime, lease_s: float) -> Claim | None:
    """Claim the oldest incident with a due step whose lease is free or expired.

    ``attempt`` counts the claims of this step (1 the first time); callers abandon a step
    once it passes ``MAX_STEP_ATTEMPTS``.
    """
    row = session.execute(
        select(IncidentRow)
        .where(
            IncidentRow.pending_step.is_not(None),
            or_(IncidentRow.lease_expires_at.is_(None), IncidentRow.lease_expires_at < now),
        )
        .order_by(IncidentRow.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if row is None or row.pending_step is None:
        return None
    row.lease_owner = owner
    row.lease_expires_at = now + timedelta(seconds=lease_s)
    row.step_attempts += 1
    return Claim(row.id, row.pending_step, row.step_attempts)


def renew(session: Session, claim: Claim, *, owner: str, now: datetime, lease_s: float) -> bool:
    """Extend a lease this owner still holds; False when it was lost to another worker."""
    result = session.execute(
        update(IncidentRow)
        .where(IncidentRow.id == claim.incident_id, IncidentRow.lease_owner == owner)
        .values(lease_expires_at=now + timedelta(seconds=lease_s))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def lock_owned(session: Session, claim: Claim, *, owner: str) -> IncidentRow | None:
    """The incident row, locked, if this owner still holds the claim's lease and step."""
    row = session.execute(
        select(IncidentRow).where(IncidentRow.id == claim.incident_id).with_for_update()
    ).scalar_one_or_none()
    if row is None or row.lease_owner != owner or row.pending_step != claim.step:
        return None
    return row


def release(row: IncidentRow, *, next_step: str | None) -> None:
    """Finish a step: hand the incident to its next step (or none) and free the lease."""
    row.pending_step = next_step
    row.step_attempts = 0
    row.lease_owner = None
    row.lease_expires_at = None


def back_off(session: Session, claim: Claim, *, owner: str, now: datetime) -> None:
    """A step raised: let it be claimed again after a delay that grows with each attempt."""
    session.execute(
        update(IncidentRow)
        .where(IncidentRow.id == claim.incident_id, IncidentRow.lease_owner == owner)
        .values(lease_owner=None,
                lease_expires_at=now + timedelta(seconds=min(60, 2 ** claim.attempt)))
    )
