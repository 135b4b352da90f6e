"""What a stage is, and the lease it runs under.

A stage is a small object holding only what it uses (a store, a provider, a clock...)
with one method, ``run(lease)``. It records its result and ends the step in one
transaction (``lease.lock`` then ``lease.finish``), so a crash between steps loses
nothing and repeats nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden.audit.chain import hold_append_lock
from warden.domain import IncidentStatus
from warden.pipeline.transitions import StepResult, next_step
from warden.store import Store
from warden.store.claims import Claim, lock_owned, release
from warden.store.tables import IncidentRow

__all__ = ["BatchStage", "Lease", "LeaseLost", "Stage", "StepResult", "finished"]


class LeaseLost(Exception):
    """The lease of a running step passed to another worker (it lapsed meanwhile)."""

    def __init__(self, claim: Claim) -> None:
        super().__init__(f"incident {claim.incident_id}: lease of step {claim.step} lost")
        self.claim = claim


@dataclass(frozen=True, slots=True)
class Lease:
    """A claimed step of one incident, held by ``owner`` until it ends or the lease lapses."""

    claim: Claim
    owner: str

    @property
    def incident_id(self) -> int:
        return self.claim.incident_id

    def held(self, session: Session) -> bool:
        """Whether this lease still holds its step (read without locking anything)."""
        return session.execute(select(IncidentRow.id).where(
            IncidentRow.id == self.claim.incident_id, IncidentRow.lease_owner == self.owner,
            IncidentRow.pending_step == self.claim.step)).first() is not None

    def lock(self, session: Session) -> IncidentRow | None:
        """The incident row, locked, while this lease still holds its step; None when the
        lease was lost (whoever holds it now does the step)."""
        hold_append_lock(session)
        return lock_owned(session, self.claim, owner=self.owner)

    @contextmanager
    def locked(self, store: Store) -> Iterator[tuple[Session, IncidentRow]]:
        """A transaction holding the incident's row, locked. Raises ``LeaseLost`` (which
        ends the step quietly: whoever holds the lease now does it) when it was lost."""
        with store.session() as session:
            row = self.lock(session)
            if row is None:
                raise LeaseLost(self.claim)
            yield session, row

    def finish(self, row: IncidentRow, result: StepResult) -> None:
        """End the step (in the caller's transaction): the transitions table names the next."""
        release(row, next_step=next_step(self.claim.step, result))


class Stage(Protocol):
    """One step of the pipeline."""

    def run(self, lease: Lease) -> None:
        """Do the step for ``lease``'s incident and end it with ``lease.finish``."""


@runtime_checkable
class BatchStage(Stage, Protocol):
    """A stage that can also do many incidents' steps in one go (no network involved)."""

    def batches(self) -> bool:
        """Whether it batches now (the triage stage does with the rules provider)."""

    def run_many(self, leases: Sequence[Lease]) -> None:
        """``run`` for each of ``leases``, in as few transactions as it can."""


def finished(row: IncidentRow, postmortem_dir: Path | None) -> StepResult:
    """How the last step of an incident ends: with the post-mortem file still to write when
    the incident is already resolved and ``WARDEN_POSTMORTEM_DIR`` is set."""
    if row.status == IncidentStatus.RESOLVED and postmortem_dir is not None:
        return StepResult.DONE_RESOLVED
    return StepResult.DONE
