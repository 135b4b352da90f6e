"""``warden policy stats``: the agreement figures of the decisions made since a moment."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden.domain import Outcome, Verdict
from warden.policy import Policy
from warden.store.tables import ApprovalRow, ExecutionRow, IncidentRow
from warden.trust.digest import digest_of
from warden.trust.figures import DecisionFacts, agreement_figures


def agreement_stats(session: Session, policy: Policy, *, since: datetime | None) -> dict[str, Any]:
    """The figures of every incident decided at or after ``since`` whose proposal named an
    action: its current decision, the verdicts given on that decision, its executions and
    their verifications. Tiers are ``policy``'s."""
    query = select(IncidentRow).where(IncidentRow.decided_at.is_not(None)).order_by(
        IncidentRow.id)
    if since is not None:
        query = query.where(IncidentRow.decided_at >= since)
    incidents = [row for row in session.execute(query).scalars()
                 if (row.decision or {}).get("action")]
    ids = [row.id for row in incidents]
    verdicts: dict[tuple[int, str | None], list[Verdict]] = defaultdict(list)
    executions: dict[tuple[int, str], list[ExecutionRow]] = defaultdict(list)
    if ids:
        for approval in session.execute(
                select(ApprovalRow).where(ApprovalRow.incident_id.in_(ids))).scalars():
            verdicts[(approval.incident_id, approval.decision_digest)].append(
                Verdict(approval.verdict))
        for execution in session.execute(
                select(ExecutionRow).where(ExecutionRow.incident_id.in_(ids))).scalars():
            executions[(execution.incident_id, str(execution.action.get("name")))].append(
                execution)
    facts = []
    for row in incidents:
        decision = row.decision or {}
        action = str(decision["action"]["name"])
        ran = [e for e in executions[(row.id, action)] if not e.dry_run]
        facts.append(DecisionFacts(
            action=action, tier=policy.tier_of(row.service),
            model=row.triage_model or row.triage_provider or "unknown",
            outcome=Outcome(decision["outcome"]),
            reason_codes=tuple(str(r.get("code")) for r in decision.get("reasons") or []),
            verdicts=tuple(verdicts[(row.id, digest_of(row))]),
            executions=len(ran),
            verified_healthy=sum(1 for e in ran if (e.verification or {}).get("ok") is True),
        ))
    return agreement_figures(facts, policy)
