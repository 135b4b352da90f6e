"""The runner and the transitions table, on a real SQLite store, with stand-in stages."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from warden.domain import Step
from warden.pipeline.runner import Runner, RunnerSettings
from warden.pipeline.stage import Lease, StepResult
from warden.pipeline.transitions import TRANSITIONS, Entry, entered, next_step
from warden.store import IncidentRow, Store
from warden.store.tables import AuditRow


def test_every_step_is_reached_from_triage_and_every_path_can_end() -> None:
    reached, frontier = {Step.TRIAGE}, [Step.TRIAGE]
    while frontier:
        step = frontier.pop()
        for (source, _result), target in TRANSITIONS.items():
            if source == step and target is not None and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(Step)
    assert all(any(s == step and t is None for (s, _r), t in TRANSITIONS.items())
               for step in Step)


def test_an_unplanned_result_is_an_error_not_a_detour() -> None:
    with pytest.raises(KeyError):
        next_step(Step.TRIAGE, StepResult.CHECK)
    assert next_step("no-such-step", StepResult.ABANDONED) is None


def test_entries_from_outside_never_replace_a_step_result() -> None:
    # Each row of the table as written: an entry must not collide with a step's result.
    assert next_step(Step.NOTIFY, StepResult.APPROVED) is Step.EXECUTE
    assert next_step(Step.EXECUTE, StepResult.DONE_RESOLVED) is Step.POSTMORTEM
    assert entered(None, Entry.OPENED) is Step.TRIAGE
    assert entered(None, Entry.OPENED_RESOLVED) is None
    assert entered(None, Entry.APPROVED) is Step.EXECUTE
    assert entered("notify", Entry.APPROVED) is Step.NOTIFY  # it hands over when it ends
    assert entered("triage", Entry.RESOLVED) is Step.POSTMORTEM  # nothing left to triage
    assert entered("execute", Entry.RESOLVED) is Step.EXECUTE  # it writes it when it ends


class SlowStage:
    """Holds each step for longer than a lease lasts, counting who runs at once."""

    def __init__(self, store: Store, hold_s: float) -> None:
        self.store = store
        self.hold_s = hold_s
        self.runs: Counter[int] = Counter()
        self.most_at_once = 0
        self._running = 0
        self._lock = threading.Lock()

    def run(self, lease: Lease) -> None:
        with self._lock:
            self.runs[lease.incident_id] += 1
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        time.sleep(self.hold_s)
        with self._lock:
            self._running -= 1
        with lease.locked(self.store) as (_session, row):
            lease.finish(row, StepResult.DONE)


def pending(store: Store, count: int, step: Step = Step.NOTIFY) -> list[int]:
    now = datetime.now(UTC)
    with store.session() as session:
        rows = [IncidentRow(key=f"{step}-{i}", source="generic", service=f"svc-{i}", title="t",
                            description="", severity="high", labels={}, status="open",
                            alert_count=1, first_seen=now, last_seen=now,
                            pending_step=step) for i in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_two_runners_run_many_at_once_and_each_step_once(tmp_path: Path) -> None:
    """Leases shorter than a step: only the one heartbeat per runner keeps another
    runner (or a free slot of the same one) from running the step a second time."""
    store = Store(f"sqlite:///{tmp_path / 'warden.db'}")
    store.migrate()
    ids = pending(store, 10)
    stage = SlowStage(store, hold_s=1.5)
    settings = RunnerSettings(concurrency=12, lease_s=0.6, poll_s=0.05)
    runners = [Runner(store=store, stages={Step.NOTIFY: stage}, clock=lambda: datetime.now(UTC),
                      settings=settings, idle=lambda: None) for _ in range(2)]
    stopping, wake = threading.Event(), threading.Event()
    threads = [threading.Thread(target=r.run, args=(stopping, wake)) for r in runners]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(stage.runs.values()) < len(ids):
            time.sleep(0.05)
        heartbeats = [t for t in threading.enumerate() if t.name == "warden-leases"]
        time.sleep(1.0)  # long enough for an expired lease to be claimed again
    finally:
        stopping.set()
        for thread in threads:
            thread.join(timeout=10)
    assert stage.runs == Counter({incident_id: 1 for incident_id in ids})
    assert stage.most_at_once == len(ids)
    assert len(heartbeats) == 2  # one per runner, not one per step
    with store.session() as session:
        assert not session.execute(select(IncidentRow.id).where(
            IncidentRow.pending_step.is_not(None))).all()
        assert not session.execute(select(AuditRow.id).where(
            AuditRow.kind == "step.abandoned")).all()
    store.dispose()


class BatchingStage:
    """Stands in for a stage that batches (notices to the log, rules triage): records the size
    of every batch and how many batches ran at once."""

    def __init__(self, store: Store, hold_s: float) -> None:
        self.store = store
        self.hold_s = hold_s
        self.sizes: list[int] = []
        self.most_at_once = 0
        self._running = 0
        self._lock = threading.Lock()

    def batches(self) -> bool:
        return True

    def run(self, lease: Lease) -> None:
        self.run_many([lease])

    def run_many(self, leases: list[Lease]) -> None:
        with self._lock:
            self.sizes.append(len(leases))
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        time.sleep(self.hold_s)
        with self._lock:
            self._running -= 1
        with self.store.session() as session:
            for lease in leases:
                row = lease.lock(session)
                assert row is not None
                lease.finish(row, StepResult.DONE)


def test_batches_are_bounded_and_single_steps_still_run_beside_them(tmp_path: Path) -> None:
    """A storm of 200 batchable steps is taken 32 at a time by at most two threads, and
    a single step of another stage that arrives among them runs meanwhile, not after."""
    store = Store(f"sqlite:///{tmp_path / 'warden.db'}")
    store.migrate()
    batchable = pending(store, 200, Step.NOTIFY)
    single = pending(store, 1, Step.EXECUTE)  # after the whole storm
    batching = BatchingStage(store, hold_s=0.2)
    alone = SlowStage(store, hold_s=0.0)
    runner = Runner(store=store, stages={Step.NOTIFY: batching, Step.EXECUTE: alone},
                    clock=lambda: datetime.now(UTC),
                    settings=RunnerSettings(concurrency=16, lease_s=30, poll_s=0.05),
                    idle=lambda: None)
    stopping, wake = threading.Event(), threading.Event()
    thread = threading.Thread(target=runner.run, args=(stopping, wake))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not alone.runs:
            time.sleep(0.01)
        batches_before_single = len(batching.sizes)
        while time.monotonic() < deadline and sum(batching.sizes) < len(batchable):
            time.sleep(0.05)
    finally:
        stopping.set()
        thread.join(timeout=10)
    assert alone.runs == Counter({single[0]: 1})
    assert batches_before_single < len(batching.sizes)  # not left until the storm was over
    assert sum(batching.sizes) == len(batchable)
    assert max(batching.sizes) == 32
    assert batching.most_at_once == 2
    store.dispose()
