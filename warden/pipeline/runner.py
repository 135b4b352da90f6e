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
from collections.abc import Callable, Mapping, Sequence
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

# Claims a batching stage does in one task (and one transaction): large enough that a storm
# costs a few transactions a second, small enough that a batch holds SQLite's one write
# lock for tens of milliseconds, not seconds, while ingest waits.
BATCH_SIZE = 32
# Batches run at once: they need no network, only CPU and the store, so more threads would
# only hold more leases while they wait for the GIL; two overlap one's commit with the
# other's work.
BATCH_TASKS = 2


@dataclass(frozen=True, slots=True)
class _Task:
    """What one thread of the pool runs: one claim, or a batch of one batching stage's."""

    claims: tuple[Claim, ...]
    batched: bool


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
        self._tasks = 0  # tasks submitted to the pool and not yet ended
        self._batch_tasks = 0  # those of them that batch

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
                tasks = self._claim()
                for task in tasks:
                    pool.submit(self._run, task, wake)
                if not tasks:
                    if not self.held():
                        self._safely(self._idle, "pipeline.idle_failed")
                    wake.wait(self.settings.poll_s)
        heartbeat.join()

    def _claim(self) -> list[_Task]:
        """Due steps for the free threads, as tasks: up to ``BATCH_SIZE`` claims of a stage
        that batches now make one task, and at most ``BATCH_TASKS`` such tasks run at
        once; the other threads take the other steps, one claim each."""
        with self._held_lock:
            free = self.settings.concurrency - self._tasks
            batch_slots = min(free, BATCH_TASKS - self._batch_tasks)
        if free <= 0:
            return []
        batching = [step for step, stage in self.stages.items()
                    if isinstance(stage, BatchStage) and stage.batches()]
        try:
            with self.store.session() as session:
                together = claim_due(
                    session, owner=self.owner, now=self.clock(), lease_s=self.settings.lease_s,
                    limit=batch_slots * BATCH_SIZE, steps=batching,
                ) if batching and batch_slots > 0 else []
                batches = _batches(together)
                alone = claim_due(session, owner=self.owner, now=self.clock(),
                                  lease_s=self.settings.lease_s, limit=free - len(batches),
                                  other_than=batching) if free > len(batches) else []
        except Exception:  # the store itself failed; logged, and the loop goes on
            log.exception("pipeline.claim_failed")
            return []
        tasks = batches + [_Task((claim,), batched=False) for claim in alone]
        with self._held_lock:
            self._held.update((claim.incident_id, claim) for task in tasks
                              for claim in task.claims)
            self._tasks += len(tasks)
            self._batch_tasks += len(batches)
        return tasks

    def _run(self, task: _Task, wake: threading.Event) -> None:
        try:
            if len(task.claims) == 1:
                self._attempt(task.claims[0])
            else:
                self._attempt_batch(task.claims)
        finally:
            with self._held_lock:
                for claim in task.claims:
                    # The incident's next step may already be claimed again: keep that one.
                    if self._held.get(claim.incident_id) is claim:
                        del self._held[claim.incident_id]
                self._tasks -= 1
                self._batch_tasks -= task.batched
            wake.set()

    def _attempt_batch(self, claims: Sequence[Claim]) -> None:
        stage = self.stages[claims[0].step]
        assert isinstance(stage, BatchStage)  # only their claims are batched
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
        with self.store.session() as session:
            lost = renew(session, ids, owner=self.owner, now=self.clock(),
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


def _batches(claims: list[Claim]) -> list[_Task]:
    """The claims of batching stages as tasks: up to ``BATCH_SIZE`` of one step together;
    a step failed before (``attempt`` > 1) runs alone, so one bad incident cannot fail a
    whole batch again and again."""
    by_step: dict[str, list[Claim]] = {}
    tasks = []
    for claim in claims:
        if claim.attempt > 1:
            tasks.append(_Task((claim,), batched=True))
        else:
            by_step.setdefault(claim.step, []).append(claim)
    for group in by_step.values():
        tasks += [_Task(tuple(group[i:i + BATCH_SIZE]), batched=True)
                  for i in range(0, len(group), BATCH_SIZE)]
    return tasks
