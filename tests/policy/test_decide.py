"""``decide``: the contract's ordered checks, one row per reason code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest
import yaml

from warden.domain import Action, History, Incident, IncidentAlert, Outcome, ReasonCode
from warden.policy import Policy, decide, default_policy, load_policy_text, parse_proposal

from .factories import NOW, PARAM_POLICY_YAML, benign, incident, reply, v2_policy

FREEZE_FROM = datetime(2026, 12, 24, tzinfo=UTC)
FREEZE_TO = datetime(2026, 12, 27, tzinfo=UTC)


def _frozen_policy() -> Policy:
    doc = yaml.safe_load(PARAM_POLICY_YAML)
    doc["freeze"] = [{"from": FREEZE_FROM.isoformat(), "to": FREEZE_TO.isoformat()}]
    return load_policy_text(yaml.safe_dump(doc), "freeze.yaml")


@dataclass(frozen=True)
class Row:
    name: str
    raw: str
    outcome: Outcome
    code: ReasonCode
    incident: Incident = field(default_factory=incident)
    history: History = field(default_factory=History)
    now: datetime = NOW
    policy: Callable[[], Policy] = default_policy


ROWS = [
    Row(
        "malformed",
        "I think you should clear the cache.",
        Outcome.BLOCKED,
        ReasonCode.MALFORMED_PROPOSAL,
    ),
    Row("no action", reply(None), Outcome.BLOCKED, ReasonCode.NO_ACTION),
    Row("unlisted action", reply("flush_all"), Outcome.BLOCKED, ReasonCode.ACTION_NOT_ALLOWED),
    Row(
        "look-alike action",
        reply("clear_cache\u200b"),
        Outcome.BLOCKED,
        ReasonCode.ACTION_NOT_ALLOWED,
    ),
    Row(
        "other target",
        reply(service="payment-gateway"),
        Outcome.BLOCKED,
        ReasonCode.TARGET_MISMATCH,
    ),
    Row(
        "target differs in case only",
        reply(service="Checkout-Web"),
        Outcome.BLOCKED,
        ReasonCode.TARGET_MISMATCH,
    ),
    Row(
        "undeclared param",
        reply(params={"force": "yes"}),
        Outcome.BLOCKED,
        ReasonCode.INVALID_PARAMS,
    ),
    Row("missing param", reply("rollback"), Outcome.BLOCKED, ReasonCode.INVALID_PARAMS),
    Row(
        "param not fully matching",
        reply("rollback", params={"version": "v1.2.3\n"}),
        Outcome.BLOCKED,
        ReasonCode.INVALID_PARAMS,
    ),
    Row(
        "full-width digit",
        reply("rollback", params={"version": "v1.\uff12.3"}),
        Outcome.BLOCKED,
        ReasonCode.INVALID_PARAMS,
    ),
    Row(
        "grounded param never deployed",
        reply("rollback", params={"version": "v9.9.9"}),
        Outcome.BLOCKED,
        ReasonCode.PARAM_NOT_GROUNDED,
        history=History(deployed_versions=("v1.0.0", "v1.1.0")),
        policy=v2_policy,
    ),
    Row(
        "grounded param is the current version",
        reply("rollback", params={"version": "v1.1.0"}),
        Outcome.BLOCKED,
        ReasonCode.PARAM_NOT_GROUNDED,
        history=History(deployed_versions=("v1.0.0", "v1.1.0")),
        policy=v2_policy,
    ),
    Row(
        "grounded param with no recorded deploy",
        reply("rollback", params={"version": "v1.0.0"}),
        Outcome.BLOCKED,
        ReasonCode.PARAM_NOT_GROUNDED,
        policy=v2_policy,
    ),
    Row(
        "grounded param: the pattern is checked first",
        reply("rollback", params={"version": "v1.0"}),
        Outcome.BLOCKED,
        ReasonCode.INVALID_PARAMS,
        history=History(deployed_versions=("v1.0", "v1.1.0")),
        policy=v2_policy,
    ),
    Row(
        "grounded param an earlier version: a human still decides",
        reply("rollback", params={"version": "v1.0.0"}),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.APPROVAL_REQUIRED,
        history=History(deployed_versions=("v1.0.0", "v1.1.0")),
        policy=v2_policy,
    ),
    Row(
        "tier not allowed",
        reply("restart_canary", service="payment-gateway"),
        Outcome.BLOCKED,
        ReasonCode.TIER_NOT_ALLOWED,
        incident=incident("payment-gateway"),
    ),
    Row(
        "odd service name fails closed to critical",
        reply("restart_canary", service="web app"),
        Outcome.BLOCKED,
        ReasonCode.TIER_NOT_ALLOWED,
        incident=incident("web app"),
    ),
    Row(
        "freeze, approval possible",
        reply(service="payment-gateway"),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.CHANGE_FREEZE,
        incident=incident("payment-gateway"),
        now=FREEZE_FROM,
        policy=_frozen_policy,
    ),
    Row(
        "freeze, no approval possible",
        reply(),
        Outcome.BLOCKED,
        ReasonCode.CHANGE_FREEZE,
        now=FREEZE_TO - timedelta(microseconds=1),
        policy=_frozen_policy,
    ),
    Row(
        "freeze compared as instants",
        reply(),
        Outcome.BLOCKED,
        ReasonCode.CHANGE_FREEZE,
        now=datetime(2026, 12, 27, 1, 0, tzinfo=timezone(timedelta(hours=2))),
        policy=_frozen_policy,
    ),
    Row(
        "security label",
        reply(),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.SECURITY_INCIDENT,
        incident=incident(labels={"category": "security"}),
    ),
    Row(
        "security pattern in the title",
        reply(),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.SECURITY_INCIDENT,
        incident=incident(title="WAF blocking requests"),
    ),
    Row(
        "security label on the last alert of a group",
        reply(),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.SECURITY_INCIDENT,
        incident=incident(alerts=(benign(), benign("DiskFull"), benign("Odd", team="security"))),
    ),
    Row(
        "security words in a middle alert's description",
        reply(),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.SECURITY_INCIDENT,
        incident=incident(
            alerts=(
                benign(),
                IncidentAlert("Logins up", "possible brute force on /login", {}),
                benign("DiskFull"),
            )
        ),
    ),
    Row(
        "service frozen by the loop breaker",
        reply(),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.LOOP_BREAKER,
        history=History(frozen=True),
    ),
    Row(
        "within the cooldown",
        reply(),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.LOOP_BREAKER,
        history=History(last_automated_minutes_ago=29.9),
    ),
    Row(
        "per-service rate limit",
        reply(),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.RATE_LIMITED,
        history=History(service_executions_last_hour=3, automated_executions_last_hour=3),
    ),
    Row(
        "global rate limit",
        reply(),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.RATE_LIMITED,
        history=History(automated_executions_last_hour=20),
    ),
    Row(
        "no precedent, approval possible",
        reply(),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.NO_PRECEDENT,
        policy=v2_policy,
    ),
    Row(
        "no precedent, no approval tier",
        reply("restart_canary"),
        Outcome.BLOCKED,
        ReasonCode.NO_PRECEDENT,
        policy=v2_policy,
    ),
    Row(
        "precedent on a critical tier: approval as usual",
        reply(service="payment-gateway"),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.APPROVAL_REQUIRED,
        incident=incident("payment-gateway"),
        policy=v2_policy,
    ),
    Row(
        "approval tier",
        reply(service="payment-gateway"),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.APPROVAL_REQUIRED,
        incident=incident("payment-gateway"),
    ),
    Row(
        "rollback always needs a human",
        reply("rollback", params={"version": "v2.0.1"}),
        Outcome.NEEDS_APPROVAL,
        ReasonCode.APPROVAL_REQUIRED,
        # The built-in rollback is grounded: v2.0.1 ran before the current v2.0.2.
        history=History(deployed_versions=("v2.0.1", "v2.0.2")),
    ),
    Row(
        "the built-in rollback to a version never deployed is not grounded",
        reply("rollback", params={"version": "v9.9.9"}),
        Outcome.BLOCKED,
        ReasonCode.PARAM_NOT_GROUNDED,
        history=History(deployed_versions=("v2.0.1", "v2.0.2")),
    ),
    Row("allowed", reply(), Outcome.EXECUTE, ReasonCode.ALLOWED),
    Row(
        "cooldown over",
        reply(),
        Outcome.EXECUTE,
        ReasonCode.ALLOWED,
        history=History(
            last_automated_minutes_ago=30,
            service_executions_last_hour=2,
            automated_executions_last_hour=19,
        ),
    ),
    Row(
        "freeze over",
        reply(),
        Outcome.EXECUTE,
        ReasonCode.ALLOWED,
        now=FREEZE_TO,
        policy=_frozen_policy,
    ),
    Row(
        "with a precedent it runs by itself",
        reply(),
        Outcome.EXECUTE,
        ReasonCode.ALLOWED,
        history=History(precedents=1),
        policy=v2_policy,
    ),
    Row(
        "a shadow action is decided as usual",
        reply("purge_cdn"),
        Outcome.EXECUTE,
        ReasonCode.ALLOWED,
        policy=v2_policy,
    ),
    Row(
        "a benign group",
        reply(),
        Outcome.EXECUTE,
        ReasonCode.ALLOWED,
        incident=incident(alerts=(benign(), benign("DiskFull"), benign("Queue", team="payments"))),
    ),
    Row(
        "model's words do not make it security",
        reply(root_cause="unauthorized intrusion"),
        Outcome.EXECUTE,
        ReasonCode.ALLOWED,
    ),
]


def test_every_reason_code_has_a_row() -> None:
    assert {row.code for row in ROWS} == set(ReasonCode)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_decide(row: Row) -> None:
    policy = row.policy()
    proposal = parse_proposal(row.raw, categories=policy.categories)
    decision = decide(row.incident, proposal, policy, row.history, row.now)
    assert decision.outcome is row.outcome
    assert decision.reasons[0].code is row.code
    assert decision.reasons[0].detail
    if row.code in (ReasonCode.MALFORMED_PROPOSAL, ReasonCode.NO_ACTION):
        assert decision.action is None
    else:  # the parsed action, also when blocked, so a reviewer sees what was refused
        assert decision.action == proposal.suggested_action  # type: ignore[union-attr]


def test_later_reasons_follow_the_deciding_one_in_contract_order() -> None:
    policy = default_policy()
    decision = decide(
        incident("payment-gateway", description="403 Forbidden spike"),
        parse_proposal(reply("rollback", service="payment-gateway", params={"version": "1.2"})),
        policy,
        History(frozen=True, service_executions_last_hour=5),
        NOW,
    )
    assert decision.outcome is Outcome.BLOCKED
    assert [r.code for r in decision.reasons] == [
        ReasonCode.INVALID_PARAMS,
        ReasonCode.SECURITY_INCIDENT,
        ReasonCode.LOOP_BREAKER,
        ReasonCode.RATE_LIMITED,
        ReasonCode.APPROVAL_REQUIRED,
    ]
    assert decision.action == Action("rollback", "payment-gateway", {"version": "1.2"})


def test_execute_carries_only_allowed() -> None:
    decision = decide(incident(), parse_proposal(reply()), default_policy(), History(), NOW)
    assert [r.code for r in decision.reasons] == [ReasonCode.ALLOWED]


def test_an_auto_action_with_params_executes() -> None:
    policy = load_policy_text(PARAM_POLICY_YAML)
    raw = reply("scale_out", params={"replicas": "12", "zone": "eu-west-1"})
    decision = decide(incident(), parse_proposal(raw), policy, History(), NOW)
    assert decision.outcome is Outcome.EXECUTE


def test_decide_is_pure() -> None:
    args = (incident(), parse_proposal(reply()), default_policy(), History(), NOW)
    assert decide(*args) == decide(*args)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        decide(incident(), parse_proposal(reply()), default_policy(), History(), datetime.now())


def test_later_checks_of_the_second_part_follow_in_contract_order() -> None:
    decision = decide(
        incident(alerts=(benign(), benign("Account takeover suspected"))),
        parse_proposal(reply("clear_cache")),
        v2_policy(),
        History(frozen=True),
        NOW,
    )
    assert decision.outcome is Outcome.NEEDS_APPROVAL
    assert [r.code for r in decision.reasons] == [
        ReasonCode.SECURITY_INCIDENT,
        ReasonCode.LOOP_BREAKER,
        ReasonCode.NO_PRECEDENT,
    ]
    assert "alert 2 of 2" in decision.reasons[0].detail


def test_an_ungrounded_and_invalid_param_name_both_reasons() -> None:
    decision = decide(
        incident(),
        parse_proposal(reply("rollback", params={"version": "v7.0.0", "force": "1"})),
        v2_policy(),
        History(deployed_versions=("v1.0.0", "v1.1.0")),
        NOW,
    )
    assert [r.code for r in decision.reasons][:2] == [
        ReasonCode.INVALID_PARAMS,
        ReasonCode.PARAM_NOT_GROUNDED,
    ]
    assert "v7.0.0" in decision.reasons[1].detail and "v1.1.0" in decision.reasons[1].detail
