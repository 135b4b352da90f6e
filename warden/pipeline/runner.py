"""The runner: claims due steps, keeps their leases alive, runs many incidents at once.

It knows no stage: the builder hands it a mapping of step → stage. Up to
``concurrency`` steps run at once in a bounded thread pool (model calls and executors
wait on the network, so threads overlap them). One incident's step never runs twice at
once: a step runs only under a lease (``store/claims.py``), here or on another replica.
One heartbeat thread renews every lease the process holds, in one statement.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import structlog

from warden import audit
from warden.pipeline.stage import BatchStage, Lease, LeaseLost, Stage
from warden.pipeline.transitions import StepResult
from warden.store import Store
from warden.store.claims import MAX_STEP_ATTEMPTS, Claim, back_off, claim_due, renew

log = structlog.get_logger("warden.pipeline")


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """How the runner paces itself (from ``WARDEN_WORKER_*`` and ``WARDEN_LEASE_S``)."""

    concurrency: int
    lease_s: float
    poll_s: float


class Runner:
    """Runs due steps until stopped. Several runners (processes, hosts) may share one
    store: leases make sure each step of an incident runs in one of them at a time."""

    def __init__(
        self, *, store: Store, stages: Mapping[str, Stage], clock: Callable[[], datetime],
        settings: RunnerSettings, idle: Callable[[], None],
    ) -> None:
        """``idle`` is called when nothing is due (housekeeping such as expiring
        unanswered approval requests)."""
        self.store = store
        self.stages = stages
        self.clock = clock
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._idle = idle
        self._held_lock = threading.Lock()
        self._held: dict[int, Claim] = {}

    def held(self) -> int:
        """How many steps this runner is running now."""
        with self._held_lock:
            return len(self._held)

    def run(self, stopping: threading.Event, wake: threading.Event) -> None:
        heartbeat = threading.Thread(target=self._heartbeat, args=(stopping,),
                                     name="warden-leases", daemon=True)
        heartbeat.start()
        with ThreadPoolExecutor(max_workers=self.settings.concurrency,
                                thread_name_prefix="warden-step") as pool:
            while not stopping.is_set():
                # Cleared before claiming: a step that ends meanwhile wakes the next pass.
                wake.clear()
                claims = self._claim()
                for group in self._groups(claims):
                    pool.submit(self._run, group, wake)
                if not claims:
                    if not self.held():
                        self._safely(self._idle, "pipeline.idle_failed")
                    wake.wait(self.settings.poll_s)
        heartbeat.join()

    def _claim(self) -> list[Claim]:
        free = self.settings.concurrency - self.held()
        if free <= 0:
            return []
        try:
            with self.store.session() as session:
                claims = claim_due(session, owner=self.owner, now=self.clock(),
                                   lease_s=self.settings.lease_s, limit=free)
        except Exception:  # the store itself failed; logged, and the loop goes on
            log.exception("pipeline.claim_failed")
            return []
        with self._held_lock:
            self._held.update((claim.incident_id, claim) for claim in claims)
        return claims

    def _groups(self, claims: list[Claim]) -> list[list[Claim]]:
        """One task per claim, except that the claims of a stage that batches now (the
        rules provider's triage) make one task together."""
        batches: dict[str, list[Claim]] = {}
        alone = []
        for claim in claims:
            stage = self.stages.get(claim.step)
            if (isinstance(stage, BatchStage) and stage.batches()
                    and claim.attempt <= MAX_STEP_ATTEMPTS):
                batches.setdefault(claim.step, []).append(claim)
            else:
                alone.append([claim])
        return [*batches.values(), *alone]

    def _run(self, claims: list[Claim], wake: threading.Event) -> None:
        try:
            if len(claims) == 1:
                self._attempt(claims[0])
            else:
                self._attempt_batch(claims)
        finally:
            with self._held_lock:
                for claim in claims:
                    # The incident's next step may already be claimed again: keep that one.
                    if self._held.get(claim.incident_id) is claim:
                        del self._held[claim.incident_id]
            wake.set()

    def _attempt_batch(self, claims: list[Claim]) -> None:
        stage = self.stages[claims[0].step]
        assert isinstance(stage, BatchStage)  # _groups batches only those
        try:
            stage.run_many([Lease(claim, self.owner) for claim in claims])
        except Exception:  # nothing of the batch was recorded: one at a time finds the culprit
            log.exception("pipeline.batch_failed", step=claims[0].step, size=len(claims))
            for claim in claims:
                self._attempt(claim)

    def _attempt(self, claim: Claim) -> None:
        stage = self.stages.get(claim.step)
        try:
            if stage is None or claim.attempt > MAX_STEP_ATTEMPTS:
                self._abandon(claim, "no stage for this step" if stage is None
                              else f"failed {MAX_STEP_ATTEMPTS} times")
            else:
                stage.run(Lease(claim, self.owner))
        except LeaseLost:
            log.warning("pipeline.step_lost_its_lease", incident_id=claim.incident_id,
                        step=claim.step)
        except Exception:  # one bad incident must not stop the others: retry it later
            log.exception("pipeline.step_failed", incident_id=claim.incident_id,
                          step=claim.step, attempt=claim.attempt)
            self._safely(partial(self._back_off, claim), "pipeline.back_off_failed")

    def _back_off(self, claim: Claim) -> None:
        with self.store.session() as session:
            back_off(session, claim, owner=self.owner, now=self.clock())

    def _abandon(self, claim: Claim, why: str) -> None:
        """Stop retrying a step; the audit log and the console show it for a human."""
        log.error("pipeline.step_abandoned", incident_id=claim.incident_id, step=claim.step,
                  why=why)
        lease = Lease(claim, self.owner)
        with lease.locked(self.store) as (session, row):
            audit.record(session, incident_id=claim.incident_id, actor="worker",
                         kind="step.abandoned", data={"step": claim.step, "why": why},
                         now=self.clock())
            lease.finish(row, StepResult.ABANDONED)

    def _heartbeat(self, stopping: threading.Event) -> None:
        """Renew every held lease, a sixth of a lease apart (a renewal may wait its turn
        behind many steps for the store), until stopped."""
        while not stopping.wait(self.settings.lease_s / 6):
            with self._held_lock:
                ids = list(self._held)
            self._safely(partial(self._renew, ids), "pipeline.renew_failed")

    def _renew(self, ids: list[int]) -> None:
        lost: set[int] = set()
        # One short transaction per lease: holding one row and waiting for nothing else, a
        # renewal never waits on the append lock and never joins a deadlock with a writer.
        for incident_id in ids:
            with self.store.session() as session:
                lost |= renew(session, [incident_id], owner=self.owner, now=self.clock(),
                              lease_s=self.settings.lease_s)
        with self._held_lock:
            # A step that ended meanwhile released its own lease: only still-held ones count.
            lost &= self._held.keys()
        for incident_id in sorted(lost):
            log.warning("pipeline.lease_lost", incident_id=incident_id)

    @staticmethod
    def _safely(chore: Callable[[], None], event: str) -> None:
        try:
            chore()
        except Exception:  # the store failed; logged, the runner goes on
            log.exception(event)
