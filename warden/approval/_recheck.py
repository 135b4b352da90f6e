"""The policy again, on the state of this moment (policy.md: "When an approval arrives, the
policy is evaluated again with the state of that moment")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from warden.domain import Decision
from warden.policy import DecisionInputs, Policy, decide_inputs, parse_proposal
from warden.store import IncidentRow, incident_with_alerts
from warden.store.history import history_for
from warden.trust import record_decision


def recheck(
    session: Session, row: IncidentRow, *, policy: Policy, now: datetime, stage: str
) -> Decision:
    """``decide`` on the incident's stored raw reply with the alerts the incident holds,
    the execution history, freezes, recorded deploys, policy and clock of ``now``; an
    incident never
    triaged is malformed, so blocked. Changes nothing but the audit log, where the
    decision's inputs are recorded for replay (``stage``: where the re-check was made)."""
    incident = incident_with_alerts(session, row)
    proposal = parse_proposal(row.proposal_raw or "", categories=policy.categories)
    action = getattr(proposal, "suggested_action", None)
    inputs = DecisionInputs(
        incident=incident, proposal_raw=row.proposal_raw or "",
        history=history_for(session, service=row.service, now=now,
                            grounding_days=policy.grounding_days, incident=incident,
                            action_name=action.name if action is not None else None),
        decided_at=now)
    decision = decide_inputs(inputs, policy)
    record_decision(session, stage=stage, inputs=inputs, decision=decision, policy=policy,
                    model=row.triage_model)
    return decision
