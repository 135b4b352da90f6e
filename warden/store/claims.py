"""Work claiming: one worker at a time holds an incident's pending step, under a lease.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets replicas claim different incidents without
waiting on each other; SQLite's single writer lock gives the same guarantee on one host.
A worker that dies stops renewing its lease and another claims the step once it expires.
"""

from __future__ import annotations

from collections.abc import Collection
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


def claim_due(
    session: Session, *, owner: str, now: datetime, lease_s: float, limit: int,
    steps: Collection[str] | None = None, other_than: Collection[str] = (),
) -> list[Claim]:
    """Claim up to ``limit`` incidents with a due step whose lease is free or expired,
    oldest first; only steps among ``steps`` (when given) and not among ``other_than``.

    ``attempt`` counts the claims of this step (1 the first time); callers abandon a step
    once it passes ``MAX_STEP_ATTEMPTS``.
    """
    due = [IncidentRow.pending_step.is_not(None)]
    if steps is not None:
        due.append(IncidentRow.pending_step.in_(steps))
    if other_than:
        due.append(IncidentRow.pending_step.not_in(other_than))
    rows = session.execute(
        select(IncidentRow)
        .where(
            *due,
            or_(IncidentRow.lease_expires_at.is_(None), IncidentRow.lease_expires_at < now),
        )
        .order_by(IncidentRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars().all()
    claims = []
    for row in rows:
        if row.pending_step is None:
            continue
        row.lease_owner = owner
        row.lease_expires_at = now + timedelta(seconds=lease_s)
        row.step_attempts += 1
        claims.append(Claim(row.id, row.pending_step, row.step_attempts))
    return claims


def renew(
    session: Session, incident_ids: Collection[int], *, owner: str, now: datetime,
    lease_s: float,
) -> set[int]:
    """Extend every lease this owner still holds among ``incident_ids``, in one statement
    that waits for no row lock; returns the ids whose lease was lost to another worker
    (or already released).

    A row locked now is in a short transaction (a step ending, a writer): it is skipped
    and renewed next time. Never waiting, a renewal cannot join a deadlock, however
    many leases it renews.
    """
    if not incident_ids:
        return set()
    mine = (select(IncidentRow.id)
            .where(IncidentRow.id.in_(incident_ids), IncidentRow.lease_owner == owner)
            .with_for_update(skip_locked=True))
    renewed = set(session.execute(
        update(IncidentRow)
        .where(IncidentRow.id.in_(mine.scalar_subquery()))
        .values(lease_expires_at=now + timedelta(seconds=lease_s))
        .returning(IncidentRow.id)
    ).scalars())
    missing = set(incident_ids) - renewed
    if not missing:
        return set()
    skipped = set(session.execute(select(IncidentRow.id).where(
        IncidentRow.id.in_(missing), IncidentRow.lease_owner == owner)).scalars())
    return missing - skipped


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
