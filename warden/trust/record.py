"""Recording each decision's inputs, so that ``warden policy replay`` can decide it again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from warden import audit
from warden.domain import Decision, History, IncidentAlert
from warden.policy import (
    INPUTS_EVENT,
    DecisionInputs,
    Policy,
    decision_json,
    inputs_json,
    policy_digest,
)
from warden.redact import redact


def record_decision(
    session: Session, *, stage: str, inputs: DecisionInputs, decision: Decision,
    policy: Policy, model: str | None,
) -> None:
    """Append the ``policy.inputs`` event: what ``decide`` was given at ``stage``
    (``triage``, ``approval``, ``execute``), what it answered, the digest of the policy
    that answered and the model whose reply it judged, inside the caller's transaction.

    The alerts' words are recorded redacted, as the model saw them: secrets stay in the
    alert's own record only. (A security pattern that matched inside a redacted secret
    would not match again on replay.)"""
    audit.record(session, incident_id=inputs.incident.id, actor="policy", kind=INPUTS_EVENT,
                 data={"stage": stage, "inputs": inputs_json(_redacted(inputs)),
                       "decision": decision_json(decision),
                       "policy_digest": policy_digest(policy),
                       "tier": policy.tier_of(inputs.incident.service), "model": model},
                 now=inputs.decided_at)


def trust_marks(decision: Decision, history: History, policy: Policy) -> dict[str, Any]:
    """What the stored decision shows besides ``decide``'s answer: the precedents it
    weighed (check 10b), and ``shadow: true`` when it names a shadow action. A shadow
    decision asks the tier's approvers for a verdict whatever its outcome (policy.md,
    *Shadow*): the verdict is agreement data, and nothing runs."""
    marks: dict[str, Any] = {"precedents": history.precedents}
    if decision.action is not None and policy.is_shadow(decision.action.name):
        marks["shadow"] = True
    return marks


def _redacted(inputs: DecisionInputs) -> DecisionInputs:
    incident = inputs.incident
    return replace(inputs, incident=replace(
        incident, title=_clean(incident.title), description=_clean(incident.description),
        labels=_clean_labels(incident.labels),
        alerts=tuple(IncidentAlert(title=_clean(a.title), description=_clean(a.description),
                                   labels=_clean_labels(a.labels)) for a in incident.alerts)))


def _clean(text: str) -> str:
    return redact(text).text


def _clean_labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {name: _clean(value) for name, value in labels.items()}
