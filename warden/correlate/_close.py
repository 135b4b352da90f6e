"""Closing an incident: the one way an incident becomes resolved, whoever resolves it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warden import audit
from warden.domain import IncidentStatus, Step
from warden.store.tables import IncidentRow


def close_incident(session: Session, incident: IncidentRow, *, actor: str,
                   data: dict[str, Any], now: datetime) -> None:
    """Mark ``incident`` resolved inside the caller's transaction and audit it as
    ``incident.resolved`` by ``actor``: a pending approval is withdrawn, untriaged work is
    dropped, and the post-mortem is due once no step is left."""
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = now
    if incident.pending_step == Step.TRIAGE:
        # Nothing left to triage: the fault went away (or a human closed it) before a model
        # was asked.
        incident.pending_step = None
    if incident.approval_state == "pending":
        incident.approval_state = "withdrawn"
    if incident.pending_step is None:
        # The incident closes with nothing left to do: its post-mortem is due now. A step
        # still running writes it when it ends (pipeline/stage.py ``finished``).
        incident.pending_step = Step.POSTMORTEM
    audit.record(session, incident_id=incident.id, actor=actor, kind="incident.resolved",
                 data=data, now=now)
