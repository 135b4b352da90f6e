"""The ``verify`` step: the action's health check, and the loop breaker when it fails.

A failed check is an incident in itself: a new one (source ``warden``, linked through
``caused_by_incident_id`` and its labels to the action that caused it) is opened and
triaged like any other, and automation for the service is frozen until a human lifts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden import audit
from warden.config import Settings
from warden.correlate import fold
from warden.domain import Action, Alert, AlertStatus, ExecutionStatus, Severity
from warden.loop_breaker import freeze
from warden.pipeline.stage import Lease, StepResult, finished
from warden.policy import Policy, VerifySpec
from warden.store import DeliveryRow, ExecutionRow, IncidentRow, Store
from warden.verify._check import CheckResult, CommandVerifier, HttpVerifier, Verifier


def verifier_for(spec: VerifySpec, settings: Settings) -> Verifier:
    if spec.type == "http":
        return HttpVerifier(timeout_s=settings.executor_timeout_s)
    return CommandVerifier(path=settings.command_path, timeout_s=settings.executor_timeout_s)


VerifierFactory = Callable[[VerifySpec], Verifier]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyStage:
    """The ``verify`` step: check the latest succeeded execution that has no verification
    yet, record the result on it, and on failure open the follow-up incident, freeze the
    service and hand the incident to ``notify``."""

    store: Store
    postmortem_dir: Path | None
    policy: Callable[[], Policy]
    clock: Callable[[], datetime]
    verifier_for: VerifierFactory

    def run(self, lease: Lease) -> None:
        policy = self.policy()
        with lease.locked(self.store) as (session, row):
            execution = session.execute(
                select(ExecutionRow).where(
                    ExecutionRow.incident_id == row.id,
                    ExecutionRow.status == ExecutionStatus.SUCCEEDED,
                    ExecutionRow.verification.is_(None),
                ).order_by(ExecutionRow.id.desc()).limit(1)
            ).scalar_one_or_none()
            spec = None if execution is None else _verify_spec(policy, execution)
            if execution is None or spec is None:
                lease.finish(row, finished(row, self.postmortem_dir))
                return
            action = Action(name=execution.action["name"], service=execution.action["service"],
                            params=dict(execution.action.get("params") or {}))
            execution_id = execution.id
        result = self.verifier_for(spec).check(spec, action)
        with lease.locked(self.store) as (session, row):
            self._record(session, row, lease, execution_id, spec, action, result)

    def _record(
        self, session: Session, row: IncidentRow, lease: Lease, execution_id: int,
        spec: VerifySpec, action: Action, result: CheckResult,
    ) -> None:
        now = self.clock()
        execution = session.get(ExecutionRow, execution_id)
        assert execution is not None  # execution rows are never deleted
        execution.verification = {"status": "passed" if result.ok else "failed",
                                   "ok": result.ok, "type": spec.type,
                                   "detail": result.detail, "at": now.isoformat()}
        if result.ok:
            audit.record(session, incident_id=row.id, actor="verify", kind="verify.passed",
                         data={"execution_id": execution.id, "detail": result.detail},
                         now=now)
            lease.finish(row, finished(row, self.postmortem_dir))
            return
        opened = _open_follow_up(session, row, execution, result, now=now)
        freeze(session, service=row.service, frozen_by="loop_breaker", incident_id=row.id,
               reason=f"the health check after {action.name} (incident #{row.id}) failed; "
                      f"opened incident #{opened}", now=now)
        audit.record(session, incident_id=row.id, actor="verify", kind="verify.failed",
                     data={"execution_id": execution.id, "detail": result.detail,
                           "action": execution.action, "opened_incident_id": opened},
                     now=now)
        lease.finish(row, StepResult.TELL_HUMANS)


def _verify_spec(policy: Policy, execution: ExecutionRow) -> VerifySpec | None:
    """The check of the execution's action in the policy in force (None: nothing to check)."""
    spec = policy.actions.get(str(execution.action.get("name")))
    return None if spec is None or spec.executor is None else spec.executor.verify


def _open_follow_up(
    session: Session, row: IncidentRow, execution: ExecutionRow, result: CheckResult, *,
    now: datetime,
) -> int:
    """Open the incident for a failed check, through correlate like any alert (its body is
    kept as a delivery of source ``warden``); returns its id."""
    name = str(execution.action.get("name"))
    raw = {
        "alertname": "WardenVerificationFailed", "service": row.service,
        "caused_by_incident_id": row.id, "execution_id": execution.id,
        "idempotency_key": execution.idempotency_key, "action": execution.action,
        "check": result.detail, "at": now.isoformat(),
    }
    alert = Alert(
        source="warden", service=row.service,
        title=f"Health check failed after {name} on {row.service}",
        description=(f"Warden ran {name} for incident #{row.id} (execution "
                     f"{execution.id}) and the health check that followed failed: "
                     f"{result.detail}"),
        severity=Severity.HIGH,
        labels={"alertname": "WardenVerificationFailed", "action": name,
                "caused_by_incident": str(row.id), "execution": str(execution.id)},
        fingerprint=f"warden-verify-{execution.id}",
        incident_key=f"warden:verify:{execution.id}",
        dedup_key=f"verify:{execution.id}",
        status=AlertStatus.FIRING, starts_at=now, raw=raw,
    )
    delivery = DeliveryRow(source="warden", received_at=now, content_type="application/json",
                           body=json.dumps(raw).encode())
    session.add(delivery)
    session.flush()
    folded = fold(session, alert, delivery_id=delivery.id, now=now)
    opened = session.get(IncidentRow, folded.incident_id)
    assert opened is not None
    opened.caused_by_incident_id = row.id
    return opened.id
