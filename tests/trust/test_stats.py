"""Agreement figures and the promotion hint, on a generated history in a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warden.app import Warden
from warden.approval import decision_digest
from warden.config import Settings
from warden.domain import Outcome, Verdict
from warden.policy import load_policy_text
from warden.store import ApprovalRow, ExecutionRow, IncidentRow
from warden.trust.figures import DecisionFacts, agreement_figures

WARDEN = str(Path(sys.executable).parent / "warden")
POLICY_YAML = """
version: 1
mode: live
services:
  payment-gateway: {tier: critical}
  "*": {tier: standard}
actions:
  clear_cache:
    auto_tiers: []
    approval_tiers: [standard, critical]
    executor: {type: http, method: POST, url: "http://127.0.0.1:9/cache/{service}/clear"}
  purge_cdn:
    auto_tiers: [standard]
    shadow: true
    executor: {type: http, method: POST, url: "http://127.0.0.1:9/cdn/{service}/purge"}
approvers:
  standard: [alice, bob]
  critical: [alice, carol]
"""
POLICY = load_policy_text(POLICY_YAML, "policy.yaml")
NOW = datetime.now(UTC)


def _needs_approval(action: str, verdicts: list[Verdict], model: str = "m1") -> DecisionFacts:
    return DecisionFacts(action=action, tier="standard", model=model,
                         outcome=Outcome.NEEDS_APPROVAL, reason_codes=("approval_required",),
                         verdicts=tuple(verdicts), executions=0, verified_healthy=0)


def test_agreement_counts_each_verdict_against_what_the_policy_would_do() -> None:
    facts = [
        _needs_approval("clear_cache", [Verdict.APPROVE]),
        _needs_approval("clear_cache", [Verdict.REJECT]),
        # A security hold: the policy would not run it, so a rejection agrees.
        DecisionFacts(action="clear_cache", tier="standard", model="m1",
                      outcome=Outcome.NEEDS_APPROVAL,
                      reason_codes=("security_incident", "approval_required"),
                      verdicts=(Verdict.REJECT,), executions=0, verified_healthy=0),
        _needs_approval("clear_cache", [Verdict.APPROVE], model="m2"),
    ]
    [m1, m2] = agreement_figures(facts, POLICY)["actions"]
    assert (m1["model"], m1["proposals"], m1["verdicts"]) == ("m1", 3,
                                                            {"approve": 1, "reject": 2})
    assert m1["agreement"] == round(2 / 3, 4)
    assert (m2["model"], m2["agreement"]) == ("m2", 1.0)


def test_the_hint_needs_20_verdicts_and_95_percent() -> None:
    agreeing = [_needs_approval("clear_cache", [Verdict.APPROVE]) for _ in range(19)]
    rejected = _needs_approval("clear_cache", [Verdict.REJECT])
    assert agreement_figures(agreeing, POLICY)["hints"] == []  # 19 verdicts: too few
    assert agreement_figures([*agreeing[:18], rejected, rejected], POLICY)["hints"] == []
    [hint] = agreement_figures([*agreeing, rejected], POLICY)["hints"]
    assert hint["message"] == ("clear_cache on standard: 20 verdicts, 95% agree — consider "
                               "moving it to auto_tiers")


def _generate(warden: Warden) -> None:
    """31 clear_cache requests on a standard service (30 approved, 1 rejected) and 21
    shadow purge_cdn decisions that executed-in-shadow, all approved, one of them run for
    real before it was shadowed and verified healthy."""
    with warden.store.session() as session:
        for n in range(52):
            action = "clear_cache" if n < 31 else "purge_cdn"
            outcome = "needs_approval" if action == "clear_cache" else "execute"
            code = "approval_required" if action == "clear_cache" else "allowed"
            decided = NOW - timedelta(days=1, minutes=n)
            decision = {"outcome": outcome, "reasons": [{"code": code, "detail": "."}],
                        "action": {"name": action, "service": "checkout-web", "params": {}},
                        "mode": "live"}
            row = IncidentRow(key=f"k{n}", source="generic", service="checkout-web",
                              title="Cache full", status="resolved", first_seen=decided,
                              last_seen=decided, proposal_raw="{}", triage_model="m1",
                              triage_provider="openai", decision=decision,
                              decision_outcome=outcome, decided_at=decided)
            session.add(row)
            session.flush()
            verdict = "reject" if n == 0 else "approve"
            session.add(ApprovalRow(incident_id=row.id, approver="alice", verdict=verdict,
                                    channel="api", at=decided, reason="",
                                    decision_digest=decision_digest(decision, "{}", decided)))
            if n == 40:
                session.add(ExecutionRow(
                    incident_id=row.id, idempotency_key=f"x{n}", service="checkout-web",
                    action=decision["action"], executor="http", status="succeeded",
                    automated=False, dry_run=False, started_at=decided,
                    verification={"status": "passed", "ok": True}))
        # A verdict on an earlier decision of the same incident does not count.
        session.add(ApprovalRow(incident_id=row.id, approver="bob", verdict="reject",
                                channel="api", at=NOW, reason="", decision_digest="stale"))


def test_stats_and_hints_from_the_store(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY_YAML)
    url = f"sqlite:///{tmp_path / 'warden.db'}"
    warden = Warden(Settings(database_url=url, policy=tmp_path / "policy.yaml"))
    warden.store.migrate()
    _generate(warden)
    warden.store.dispose()
    env = {**os.environ, "WARDEN_DATABASE_URL": url, "WARDEN_POLICY": str(tmp_path / "policy.yaml")}

    done = subprocess.run([WARDEN, "policy", "stats", "--json"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    rows = {row["action"]: row for row in figures["actions"]}
    assert rows["clear_cache"] == {
        "action": "clear_cache", "tier": "standard", "model": "m1", "proposals": 31,
        "policy": {"execute": 0, "needs_approval": 31, "blocked": 0},
        "verdicts": {"approve": 30, "reject": 1}, "agreement": round(30 / 31, 4),
        "executions": 0, "verified_healthy": 0}
    assert rows["purge_cdn"]["verdicts"] == {"approve": 21, "reject": 0}
    assert (rows["purge_cdn"]["executions"], rows["purge_cdn"]["verified_healthy"]) == (1, 1)
    assert [h["message"] for h in figures["hints"]] == [
        "clear_cache on standard: 31 verdicts, 97% agree — consider moving it to auto_tiers",
        "purge_cdn on standard: 21 verdicts, 100% agree — consider taking it out of shadow",
    ]

    text = subprocess.run([WARDEN, "policy", "stats"], capture_output=True, text=True,
                          timeout=60, env=env).stdout
    assert ("-    auto_tiers: []\n+    auto_tiers: [standard]\n" in text)
    assert "not applied" in text and "-    shadow: true" in text
    # Nothing was applied.
    assert (tmp_path / "policy.yaml").read_text() == POLICY_YAML
    recent = subprocess.run([WARDEN, "policy", "stats", "--since", "1h", "--json"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert json.loads(recent.stdout) == {"actions": [], "hints": []}
    bad = subprocess.run([WARDEN, "policy", "stats", "--since", "soon"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert bad.returncode == 2 and "--since 'soon'" in bad.stderr
