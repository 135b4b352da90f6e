"""``warden policy replay``: every recorded decision since a moment, decided again under
another policy, from the audit log alone, once the log verifies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden import audit
from warden.errors import ReplayRefused
from warden.policy import (
    INPUTS_EVENT,
    Policy,
    RecordedDecision,
    ReplayResult,
    inputs_from_json,
    replay,
)
from warden.store.tables import AuditRow


def replay_recorded(session: Session, policy: Policy, *, since: datetime | None) -> ReplayResult:
    """Verify the whole audit chain, then re-decide each decision recorded at or after
    ``since`` (all of them when None) with ``policy``. Reads only: no model is called,
    nothing runs. ``ReplayRefused`` when the chain does not verify or a record is
    unreadable (the event is named)."""
    chain = audit.verify(session)
    if not chain.ok:
        where = f" at event {chain.first_broken_id}" if chain.first_broken_id else ""
        raise ReplayRefused(
            f"the audit chain does not verify{where}: {chain.problem}. Its recorded decisions "
            "cannot be trusted, so nothing was replayed; run `warden audit verify`")
    return replay(recorded_decisions(session, since=since), policy)


def recorded_decisions(session: Session, *, since: datetime | None) -> Iterator[RecordedDecision]:
    """The decisions recorded in the audit log (``policy.inputs`` events), oldest first."""
    query = select(AuditRow).where(AuditRow.kind == INPUTS_EVENT).order_by(AuditRow.id)
    if since is not None:
        query = query.where(AuditRow.at >= since)
    for event in session.execute(query).scalars():
        data = event.data
        try:
            inputs = inputs_from_json(data["inputs"])
            before = data["decision"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ReplayRefused(f"audit event {event.id} ({INPUTS_EVENT}) cannot be read: "
                                f"{exc}") from exc
        yield RecordedDecision(incident_id=inputs.incident.id, stage=str(data.get("stage")),
                               inputs=inputs, before=before)
