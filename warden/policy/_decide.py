"""``decide``: the policy's verdict on one proposal (policy.md, "The decision").

Pure: the answer depends only on the arguments, ``now`` included; no I/O, no clock.
"""

from __future__ import annotations

from datetime import datetime

from warden.domain import (
    Action,
    Decision,
    History,
    Incident,
    MalformedProposal,
    Outcome,
    Proposal,
    Reason,
    ReasonCode,
)
from warden.policy._model import ActionSpec, Policy

_Check = tuple[Outcome, Reason]


def decide(
    incident: Incident,
    proposal: Proposal | MalformedProposal,
    policy: Policy,
    history: History,
    now: datetime,
) -> Decision:
    """Decide whether the proposed action runs, waits for approval or is blocked.

    Runs the contract's checks in order; the first that fires sets the outcome and its
    reason comes first, followed by the reasons of every later check that also applies
    (so a reviewer sees all of them). ``execute`` carries the reason ``allowed``.
    ``action`` is the proposal's action whenever the proposal parsed, also when blocked;
    None for a malformed proposal or no action. The security check reads every alert of
    ``incident`` (``incident.alerts``) besides its own fields. ``history`` is what the
    store knows about ``incident``'s service key, ``deployed_versions`` already limited
    to the policy's ``grounding_days``. ``now`` must be timezone-aware.
    """
    if now.utcoffset() is None:
        raise ValueError("decide needs an aware `now`: freeze windows are instants")
    if isinstance(proposal, MalformedProposal):
        return _decision(Outcome.BLOCKED, ReasonCode.MALFORMED_PROPOSAL, proposal.detail, None)
    action = proposal.suggested_action
    if action is None:
        return _decision(
            Outcome.BLOCKED, ReasonCode.NO_ACTION, "the proposal suggests no action", None
        )

    spec = policy.actions.get(action.name)
    tier = policy.tier_of(incident.service)
    checks: list[_Check] = []
    if spec is None:
        checks.append(
            _blocked(
                ReasonCode.ACTION_NOT_ALLOWED, f"{action.name!r} is not an action of the policy"
            )
        )
    if action.service != incident.service:
        checks.append(
            _blocked(
                ReasonCode.TARGET_MISMATCH,
                f"the action targets {action.service!r}; the incident is on {incident.service!r}",
            )
        )
    if spec is not None:
        checks += _spec_checks(action, spec, tier, history)
    checks += _state_checks(incident, policy, history, now, spec, tier)
    if spec is not None:
        checks += _precedent_check(action, spec, tier, history)
    if spec is not None and tier in spec.approval_tiers and tier not in spec.auto_tiers:
        approvers = ", ".join(policy.approvers_for(tier)) or "nobody"
        checks.append(
            (
                Outcome.NEEDS_APPROVAL,
                Reason(
                    ReasonCode.APPROVAL_REQUIRED,
                    f"{action.name} on a {tier} service needs {policy.quorum_for(tier)} "
                    f"approval(s) from: {approvers}",
                ),
            )
        )
    if not checks:
        return Decision(
            outcome=Outcome.EXECUTE,
            reasons=(
                Reason(
                    ReasonCode.ALLOWED, f"{action.name} runs without approval on a {tier} service"
                ),
            ),
            action=action,
        )
    return Decision(
        outcome=checks[0][0], reasons=tuple(reason for _, reason in checks), action=action
    )


def _spec_checks(
    action: Action, spec: ActionSpec, tier: str, history: History
) -> list[_Check]:
    """Checks 5, 5b and 6: the params against their declarations and the recorded
    versions, the tier against the action."""
    checks: list[_Check] = []
    problems = [f"{name!r} is not declared" for name in action.params if name not in spec.params]
    ungrounded: list[str] = []
    for name, pattern in spec.params.items():
        value = action.params.get(name)
        if value is None:
            problems.append(f"{name!r} is missing")
        elif pattern.fullmatch(value) is None:
            problems.append(f"{name}={_short(value)} does not match {pattern.pattern!r}")
        elif name in spec.grounded_params and not _ran_before(value, history.deployed_versions):
            ungrounded.append(f"{name}={_short(value)}")
    if problems:
        checks.append(_blocked(ReasonCode.INVALID_PARAMS, "; ".join(problems)))
    if ungrounded:
        checks.append(
            _blocked(
                ReasonCode.PARAM_NOT_GROUNDED,
                f"{', '.join(ungrounded)} is not a version {action.service!r} is recorded to "
                f"have run before its current one ({_versions(history.deployed_versions)})",
            )
        )
    if tier not in spec.auto_tiers and tier not in spec.approval_tiers:
        checks.append(
            _blocked(
                ReasonCode.TIER_NOT_ALLOWED,
                f"{action.name} is not allowed on a {tier} service ({action.service!r})",
            )
        )
    return checks


def _state_checks(
    incident: Incident,
    policy: Policy,
    history: History,
    now: datetime,
    spec: ActionSpec | None,
    tier: str,
) -> list[_Check]:
    """Checks 7 to 10: freeze, security, loop breaker, rate limits."""
    checks: list[_Check] = []
    window = policy.freeze_at(now)
    if window is not None:
        detail = f"change freeze from {window.start.isoformat()} to {window.end.isoformat()}"
        if spec is not None and tier in spec.approval_tiers:
            checks.append((Outcome.NEEDS_APPROVAL, Reason(ReasonCode.CHANGE_FREEZE, detail)))
        else:
            checks.append(
                _blocked(
                    ReasonCode.CHANGE_FREEZE, f"{detail}; no approval possible on a {tier} service"
                )
            )
    security = policy.incident_security_match(incident)
    if security is not None:
        checks.append(
            _needs_approval(ReasonCode.SECURITY_INCIDENT, f"security incident: {security}")
        )
    limits = policy.limits
    if history.frozen:
        checks.append(
            _needs_approval(
                ReasonCode.LOOP_BREAKER, f"automation is frozen for {incident.service!r}"
            )
        )
    elif (
        history.last_automated_minutes_ago is not None
        and history.last_automated_minutes_ago < limits.cooldown_minutes
    ):
        checks.append(
            _needs_approval(
                ReasonCode.LOOP_BREAKER,
                f"last automated execution {history.last_automated_minutes_ago:g} minutes ago, "
                f"within the {limits.cooldown_minutes:g}-minute cooldown",
            )
        )
    if history.service_executions_last_hour >= limits.per_service_per_hour:
        checks.append(
            _needs_approval(
                ReasonCode.RATE_LIMITED,
                f"{history.service_executions_last_hour} automated executions on "
                f"{incident.service!r} in the last hour (limit {limits.per_service_per_hour})",
            )
        )
    elif history.automated_executions_last_hour >= limits.global_per_hour:
        checks.append(
            _needs_approval(
                ReasonCode.RATE_LIMITED,
                f"{history.automated_executions_last_hour} automated executions in the last "
                f"hour (global limit {limits.global_per_hour})",
            )
        )
    return checks


def _precedent_check(
    action: Action, spec: ActionSpec, tier: str, history: History
) -> list[_Check]:
    """Check 10b: an action that runs by itself only after a verified precedent. A tier
    outside ``auto_tiers`` needs approval anyway (check 11), so it is not asked."""
    if not spec.auto_requires_precedent or tier not in spec.auto_tiers or history.precedents > 0:
        return []
    detail = (
        f"{action.name} has not yet fixed this alert on {action.service!r} with a verified "
        "result, so it does not run by itself"
    )
    if tier in spec.approval_tiers:
        return [_needs_approval(ReasonCode.NO_PRECEDENT, detail)]
    return [
        _blocked(ReasonCode.NO_PRECEDENT, f"{detail}; no approval possible on a {tier} service")
    ]


def _ran_before(version: str, deployed_versions: tuple[str, ...]) -> bool:
    """Whether ``version`` was recorded before the current (last) one and is not the
    current one: rolling "back" to what runs now, or to what never ran, is not grounded.
    Compared byte for byte, like every name in the contract."""
    if not deployed_versions:
        return False
    *earlier, current = deployed_versions
    return version != current and version in earlier


def _versions(deployed_versions: tuple[str, ...]) -> str:
    if not deployed_versions:
        return "no versions recorded"
    shown = ", ".join(_short(v) for v in deployed_versions[-5:])
    more = len(deployed_versions) - 5
    return f"recorded, oldest first: {'..., ' if more > 0 else ''}{shown}"


def _blocked(code: ReasonCode, detail: str) -> _Check:
    return Outcome.BLOCKED, Reason(code, detail)


def _needs_approval(code: ReasonCode, detail: str) -> _Check:
    return Outcome.NEEDS_APPROVAL, Reason(code, detail)


def _decision(outcome: Outcome, code: ReasonCode, detail: str, action: Action | None) -> Decision:
    return Decision(outcome=outcome, reasons=(Reason(code, detail),), action=action)


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
