"""Recording each decision's inputs, so that ``warden policy replay`` can decide it again."""

from __future__ import annotations

from sqlalchemy.orm import Session

from warden import audit
from warden.domain import Decision
from warden.policy import (
    INPUTS_EVENT,
    DecisionInputs,
    Policy,
    decision_json,
    inputs_json,
    policy_digest,
)


def record_decision(
    session: Session, *, stage: str, inputs: DecisionInputs, decision: Decision,
    policy: Policy, model: str | None,
) -> None:
    """Append the ``policy.inputs`` event: what ``decide`` was given at ``stage``
    (``triage``, ``approval``, ``execute``), what it answered, the digest of the policy
    that answered and the model whose reply it judged, inside the caller's transaction."""
    audit.record(session, incident_id=inputs.incident.id, actor="policy", kind=INPUTS_EVENT,
                 data={"stage": stage, "inputs": inputs_json(inputs),
                       "decision": decision_json(decision),
                       "policy_digest": policy_digest(policy),
                       "tier": policy.tier_of(inputs.incident.service), "model": model},
                 now=inputs.decided_at)


def asks_for_verdict(decision: Decision, policy: Policy) -> bool:
    """Whether a decision asks the tier's approvers for a verdict although the policy may
    not need one: a shadow action named by the proposal, whatever the outcome (policy.md,
    *Shadow*): the verdict is agreement data."""
    return decision.action is not None and policy.is_shadow(decision.action.name)
