"""The policy again, on the state of this moment (policy.md: "When an approval arrives, the
policy is evaluated again with the state of that moment")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from warden.domain import Decision
from warden.policy import Policy, decide, parse_proposal
from warden.store import IncidentRow, incident_with_alerts
from warden.store.history import history_for


def recheck(session: Session, row: IncidentRow, *, policy: Policy, now: datetime) -> Decision:
    """``decide`` on the incident's stored raw reply with the alerts the incident holds,
    the execution history, freezes, recorded deploys, policy and clock of ``now``. Reads
    only; an incident never triaged is malformed, so blocked."""
    proposal = parse_proposal(row.proposal_raw or "", categories=policy.categories)
    history = history_for(session, service=row.service, now=now,
                          grounding_days=policy.grounding_days, incident=row,
                          proposal=proposal)
    return decide(incident_with_alerts(session, row), proposal, policy, history, now)
