"""Closing an incident: the one way an incident becomes resolved, whoever resolves it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warden import audit
from warden.domain import IncidentStatus
from warden.pipeline.transitions import Entry, enter
from warden.store.tables import IncidentRow


def close_incident(session: Session, incident: IncidentRow, *, actor: str,
                   data: dict[str, Any], now: datetime) -> None:
    """Mark ``incident`` resolved inside the caller's transaction and audit it as
    ``incident.resolved`` by ``actor``: a pending approval is withdrawn, untriaged work is
    dropped, and the post-mortem is due once no step is left (pipeline/transitions.py)."""
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = now
    if incident.approval_state == "pending":
        incident.approval_state = "withdrawn"
    # A step still due writes the post-mortem when it ends (pipeline/stage.py ``finished``).
    enter(incident, Entry.RESOLVED)
    audit.record(session, incident_id=incident.id, actor=actor, kind="incident.resolved",
                 data=data, now=now)
