"""``execute.run``: the execute step. A decided action runs at most once.

At most once, also across a crash or a second replica: the execution row (status
``started``, unique ``idempotency_key`` per decision) is committed *before* the side
effect, and the result is recorded after it. A step that finds its key already
``started`` knows a worker died in between: it marks the execution ``unknown`` and tells a
human; it never runs the action again.

Before anything runs the policy decides again on the state of this moment (every alert
the incident holds, rate limits, freeze, loop breaker). ``blocked`` stops everything.
``needs_approval`` is satisfied by approvals already given; for an automated execution it
turns the incident into a pending approval request instead. A shadow action never runs:
the step records that nothing ran (``execution.shadowed``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from warden import audit
from warden.approval import ApprovalState, expire_if_due, open_request, recheck
from warden.config import Settings
from warden.domain import ExecutionStatus, Outcome
from warden.errors import ExecutorError
from warden.execute.executors import Executor, ExecutorResult, Job
from warden.loop_breaker import freeze_if_realerted
from warden.metrics import Metrics
from warden.pipeline.stage import Lease, StepResult, finished
from warden.policy import ExecutorSpec, Policy, decision_json
from warden.store import ExecutionRow, IncidentRow, Store, incident_from_row

log = structlog.get_logger("warden.execute")

_AUDIT_OUTPUT_CHARS = 4000


def idempotency_key(row: IncidentRow) -> str:
    """The key of the incident's current decision: its id, when it was decided and the
    action. The same decision always gets the same key; a re-triage gets a new one."""
    basis = json.dumps({"decided_at": row.decided_at.isoformat() if row.decided_at else None,
                        "action": (row.decision or {}).get("action")}, sort_keys=True)
    return f"{row.id}:{hashlib.sha256(basis.encode()).hexdigest()[:32]}"


def executor_for(
    spec: ExecutorSpec, settings: Settings, *, policy: Policy | None = None
) -> Executor:
    """The executor of ``spec.type``, configured from ``settings`` (``policy`` gives
    the tiers that choose a notify action's Slack channel)."""
    if spec.type == "http":
        from warden.execute.executors.http import HttpExecutor

        return HttpExecutor()
    if spec.type == "command":
        from warden.execute.executors.command import CommandExecutor

        return CommandExecutor(path=settings.command_path)
    from warden.execute._announce import notifier_for

    return notifier_for(settings, tier_of=policy.tier_of if policy is not None else None)


@dataclass(frozen=True, slots=True)
class _Started:
    job: Job
    execution_id: int


ExecutorFactory = Callable[[ExecutorSpec, Policy], Executor]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecuteStage:
    """The ``execute`` step: re-check, record ``started``, run, record the result, and
    hand the incident on (``verify``, ``notify`` for humans, or done)."""

    store: Store
    settings: Settings
    policy: Callable[[], Policy]
    clock: Callable[[], datetime]
    metrics: Metrics
    executor_for: ExecutorFactory

    def run(self, lease: Lease) -> None:
        policy = self.policy()
        with lease.locked(self.store) as (session, row):
            started = _start(session, row, lease, policy=policy, settings=self.settings,
                             now=self.clock())
        if started is None:
            return
        # Committed: from here on a crash leaves a `started` row, never a second run.
        status, output = _attempt(self.executor_for(started.job.spec, policy), started.job)
        self.metrics.executions.labels(executor=started.job.spec.type,
                                        status=status.value).inc()
        with self.store.session() as session:
            _finish(session, lease, started, status=status, output=output, now=self.clock(),
                    postmortem_dir=self.settings.postmortem_dir)


def _start(
    session: Session, row: IncidentRow, lease: Lease, *, policy: Policy, settings: Settings,
    now: datetime,
) -> _Started | None:
    """Everything up to the side effect; None when nothing is to run (the incident has
    then been released to its next step)."""
    key = idempotency_key(row)
    existing = session.execute(
        select(ExecutionRow).where(ExecutionRow.idempotency_key == key)
    ).scalar_one_or_none()
    if existing is not None:
        if existing.status == ExecutionStatus.STARTED:
            _mark_unknown(session, existing, now=now)
            lease.finish(row, StepResult.TELL_HUMANS)
        else:
            lease.finish(row, finished(row, settings.postmortem_dir))
        return None

    expire_if_due(session, row, now=now)
    automated = row.approval_state is None and row.decision_outcome == Outcome.EXECUTE
    if not automated and row.approval_state != ApprovalState.APPROVED:
        _skip(session, row, why=f"nothing approved it (approval state: {row.approval_state})",
              now=now)
        lease.finish(row, finished(row, settings.postmortem_dir))
        return None

    freeze_if_realerted(session, row, policy=policy, now=now)
    decision = recheck(session, row, policy=policy, now=now, stage="execute")
    audit.record(session, incident_id=row.id, actor="policy", kind="policy.rechecked",
                 data={**decision_json(decision), "stage": "execute", "automated": automated},
                 now=now)
    runs = decision.outcome is Outcome.EXECUTE or (
        decision.outcome is Outcome.NEEDS_APPROVAL and not automated)
    if not runs or decision.action is None:
        if decision.outcome is Outcome.NEEDS_APPROVAL:
            # Automated a moment ago, but no longer: it becomes a request for humans.
            open_request(row, now=now, ttl_minutes=settings.approval_ttl_minutes)
        elif not automated:
            row.approval_state = ApprovalState.BLOCKED
        lease.finish(row, StepResult.TELL_HUMANS)
        return None

    action = decision.action
    if policy.is_shadow(action.name):
        # Shadow (policy.md): decided, recorded, verdicts collected; never run, in any mode.
        audit.record(session, incident_id=row.id, actor="execute", kind="execution.shadowed",
                     data={"action": {"name": action.name, "service": action.service,
                                      "params": dict(action.params)},
                           "automated": automated,
                           "why": "shadow: the action is decided and recorded, never run"},
                     now=now)
        lease.finish(row, finished(row, settings.postmortem_dir))
        return None
    action_spec = policy.actions.get(action.name)
    spec = action_spec.executor if action_spec is not None else None
    if spec is None:
        _skip(session, row, why=f"the policy names no executor for {action.name!r}", now=now)
        lease.finish(row, StepResult.TELL_HUMANS)
        return None

    dry_run = policy.mode == "dry_run"
    execution = ExecutionRow(
        incident_id=row.id, idempotency_key=key, service=row.service,
        action={"name": action.name, "service": action.service, "params": dict(action.params)},
        executor=spec.type, status=ExecutionStatus.STARTED.value, automated=automated,
        dry_run=dry_run, output="", started_at=now,
    )
    session.add(execution)
    session.flush()
    audit.record(session, incident_id=row.id, actor="execute", kind="execution.started",
                 data={"execution_id": execution.id, "idempotency_key": key,
                       "action": execution.action, "executor": spec.type,
                       "automated": automated, "dry_run": dry_run}, now=now)
    job = Job(incident=incident_from_row(row), idempotency_key=key, action=action, spec=spec,
              dry_run=dry_run, timeout_s=spec.timeout_s or settings.executor_timeout_s)
    return _Started(job, execution.id)


def _attempt(executor: Executor, job: Job) -> tuple[ExecutionStatus, str]:
    """Run the job once; never raises."""
    try:
        result: ExecutorResult = executor.run(job)
    except ExecutorError as exc:
        hint = "trying again later may help" if exc.recoverable else "retrying will not help"
        return ExecutionStatus.FAILED, f"{exc}\n[warden: not retried; {hint}]"
    except Exception as exc:  # a bug after the side effect must not pass for "did not run"
        log.exception("execution.executor_crashed", key=job.idempotency_key)
        return ExecutionStatus.UNKNOWN, (
            f"the executor raised {type(exc).__name__}: {exc}; whether the action ran is "
            "unknown")
    if not result.ok:
        return ExecutionStatus.FAILED, result.output
    return (ExecutionStatus.DRY_RUN if job.dry_run else ExecutionStatus.SUCCEEDED), result.output


def _finish(
    session: Session, lease: Lease, started: _Started, *, status: ExecutionStatus, output: str,
    now: datetime, postmortem_dir: Path | None,
) -> None:
    execution = session.get(ExecutionRow, started.execution_id, with_for_update=True)
    assert execution is not None  # execution rows are never deleted
    incident_id = execution.incident_id
    if execution.status != ExecutionStatus.STARTED:
        # Our lease lapsed mid-run and another worker already called it unknown; keep
        # its verdict for the incident's flow but record what actually happened.
        execution.output = f"{execution.output}\n[late result: {status}]\n{output}"
        audit.record(session, incident_id=incident_id, actor="execute",
                     kind="execution.late_result",
                     data={"execution_id": execution.id, "status": status.value,
                           "output": output[:_AUDIT_OUTPUT_CHARS]}, now=now)
        return
    execution.status = status.value
    execution.output = output
    execution.finished_at = now
    verify = started.job.spec.verify
    if verify is not None and status is ExecutionStatus.DRY_RUN:
        execution.verification = {"status": "skipped", "ok": None,
                                  "detail": "dry run: the action did not run, so neither "
                                            "did its health check", "at": now.isoformat()}
    audit.record(session, incident_id=incident_id, actor="execute", kind="execution.finished",
                 data={"execution_id": execution.id, "status": status.value,
                       "executor": execution.executor, "dry_run": execution.dry_run,
                       "automated": execution.automated,
                       "output": output[:_AUDIT_OUTPUT_CHARS]}, now=now)
    log.info("execution.finished", incident_id=incident_id, status=status.value,
             action=execution.action.get("name"), dry_run=execution.dry_run)
    row = lease.lock(session)
    if row is None:
        return
    if status is ExecutionStatus.SUCCEEDED and verify is not None:
        lease.finish(row, StepResult.CHECK)
    elif status in (ExecutionStatus.FAILED, ExecutionStatus.UNKNOWN):
        lease.finish(row, StepResult.TELL_HUMANS)
    else:
        lease.finish(row, finished(row, postmortem_dir))


def _mark_unknown(session: Session, execution: ExecutionRow, *, now: datetime) -> None:
    execution.status = ExecutionStatus.UNKNOWN.value
    execution.finished_at = now
    execution.output = (
        f"{execution.output}\n[warden: a worker stopped after recording the start and before "
        "recording the result; whether the action ran is unknown. It will not be run again "
        "by Warden: check the service by hand.]"
    ).lstrip("\n")
    audit.record(session, incident_id=execution.incident_id, actor="execute",
                 kind="execution.unknown",
                 data={"execution_id": execution.id, "idempotency_key": execution.idempotency_key,
                       "action": execution.action,
                       "started_at": execution.started_at.isoformat()}, now=now)
    log.warning("execution.unknown", incident_id=execution.incident_id,
                key=execution.idempotency_key)


def _skip(session: Session, row: IncidentRow, *, why: str, now: datetime) -> None:
    audit.record(session, incident_id=row.id, actor="execute", kind="execution.skipped",
                 data={"why": why, "action": (row.decision or {}).get("action")}, now=now)

