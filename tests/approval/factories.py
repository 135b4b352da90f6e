"""Incidents in a real store, in the state triage leaves them (decision recorded)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warden.approval import digest_of
from warden.domain import History, Outcome
from warden.policy import Policy, decide, decision_json, load_policy_text, parse_proposal
from warden.store import IncidentRow, Store, incident_from_row

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

POLICY_YAML = """
version: 1
mode: live
services:
  payment-gateway: {tier: critical}
  "*": {tier: standard}
actions:
  clear_cache:
    auto_tiers: [standard]
    approval_tiers: [critical]
    executor: {type: http, method: POST, url: "http://127.0.0.1:9/cache/{service}/clear"}
  rollback:
    approval_tiers: [standard, critical]
    params: {version: '^v\\d+\\.\\d+\\.\\d+$'}
    executor: {type: command, argv: [deployctl, rollback, "{service}", "{version}"]}
approvers:
  standard: [alice, bob]
  critical: [alice, carol]
  critical_quorum: 2
"""


def policy(yaml_text: str = POLICY_YAML) -> Policy:
    return load_policy_text(yaml_text, "test-policy.yaml")


def store_at(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'warden.db'}")
    store.migrate()
    return store


def reply(action: str | None, service: str, params: Mapping[str, str] | None = None) -> str:
    suggested = None if action is None else {"name": action, "service": service,
                                             "params": dict(params or {})}
    return json.dumps({"category": "resource_exhaustion", "severity": "high",
                       "root_cause": "cache full", "suggested_action": suggested,
                       "confidence": 0.9})


def triaged(
    store: Store, the_policy: Policy, *, service: str = "payment-gateway",
    action: str | None = "clear_cache", params: Mapping[str, str] | None = None,
    now: datetime = NOW, ttl_minutes: float = 30, title: str = "Cache memory at 97%",
) -> int:
    """An open incident with the policy's decision on a proposal of ``action``, exactly
    as the triage step records it (pending step: execute, or notify)."""
    raw = reply(action, service, params)
    with store.session() as session:
        row = IncidentRow(key=f"k-{service}-{now.timestamp()}-{title}", source="generic",
                          service=service, title=title, description="", severity="high",
                          labels={}, status="open", alert_count=1, first_seen=now,
                          last_seen=now, pending_step=None)
        session.add(row)
        session.flush()
        decision = decide(incident_from_row(row), parse_proposal(raw), the_policy, History(),
                          now)
        row.proposal_raw = raw
        row.proposal = json.loads(raw)
        row.triage_provider = "rules"
        row.triaged_at = row.decided_at = now
        row.decision_outcome = decision.outcome.value
        row.decision = decision_json(decision)
        if decision.outcome is Outcome.NEEDS_APPROVAL:
            row.approval_state = "pending"
            row.approval_expires_at = now + timedelta(minutes=ttl_minutes)
        row.pending_step = "execute" if decision.outcome is Outcome.EXECUTE else "notify"
        return row.id


def incident(store: Store, incident_id: int) -> IncidentRow:
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        return row


def current_digest(store: Store, incident_id: int) -> str:
    """The digest of the incident's current decision, as its page shows it."""
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        return (digest_of(row) if row is not None else None) or "none"
