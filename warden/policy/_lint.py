"""``lint_policy``: problems in a policy that loads but cannot do what it seems to say."""

from __future__ import annotations

import string
from dataclasses import dataclass

from warden.policy._model import CRITICAL_TIER, ActionSpec, Policy


@dataclass(frozen=True, slots=True)
class LintProblem:
    """One problem: ``key`` is the dotted path in the policy file, ``message`` says why."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def lint_policy(policy: Policy) -> tuple[LintProblem, ...]:
    """Every problem found in ``policy``, in file order; empty when none. Pure."""
    # Any name outside [a-z0-9._-] gets the critical tier, so critical always has services.
    tiers = {*policy.services.values(), CRITICAL_TIER}
    problems: list[LintProblem] = []
    for name, spec in policy.actions.items():
        problems += _action_problems(policy, name, spec, tiers)
    for tier, people in policy.approvers.items():
        if tier not in tiers:
            problems.append(LintProblem(f"approvers.{tier}", f"no service has the tier {tier!r}"))
        if len(people) < policy.quorum_for(tier):
            problems.append(
                LintProblem(
                    f"approvers.{tier}",
                    f"{len(people)} distinct approver(s) can never reach the quorum of "
                    f"{policy.quorum_for(tier)}",
                )
            )
    for tier in policy.approval_channels:
        if tier not in tiers:
            problems.append(
                LintProblem(f"approval_channels.{tier}", f"no service has the tier {tier!r}")
            )
        elif not policy.approval_channels[tier]:
            problems.append(
                LintProblem(f"approval_channels.{tier}", "no channel is listed: nobody can approve")
            )
    if not policy.security.labels and not policy.security.patterns:
        problems.append(
            LintProblem("security", "no labels or patterns: no incident is ever a security one")
        )
    for i, pattern in enumerate(policy.security.patterns):
        if pattern.search("") is not None:
            problems.append(
                LintProblem(
                    f"security.patterns.{i}", "matches the empty text, so every alert is security"
                )
            )
    return tuple(problems)


def _action_problems(
    policy: Policy, name: str, spec: ActionSpec, tiers: set[str]
) -> list[LintProblem]:
    key = f"actions.{name}"
    problems: list[LintProblem] = []
    if spec.executor is None:
        problems.append(LintProblem(key, "has no executor, so it can never run"))
    else:
        executor, verify = spec.executor, spec.executor.verify
        templates = [t for t in (executor.url, *executor.argv, executor.message) if t]
        if verify is not None:
            templates += [t for t in (verify.url, *verify.argv) if t]
        for template in templates:
            try:
                fields = _placeholders(template)
            except ValueError as exc:
                problems.append(
                    LintProblem(f"{key}.executor", f"{template!r} is not a template: {exc}")
                )
                continue
            for field in sorted(fields - {"service", *spec.params}):
                problems.append(
                    LintProblem(
                        f"{key}.executor",
                        f"{{{field}}} in {template!r} is neither service nor a declared param",
                    )
                )
    if "service" in spec.params:
        problems.append(
            LintProblem(f"{key}.params.service", "shadows the {service} of the executor templates")
        )
    if not spec.auto_tiers and not spec.approval_tiers:
        problems.append(LintProblem(key, "lists no tier, so it is always blocked"))
    if spec.auto_requires_precedent and not spec.auto_tiers:
        problems.append(
            LintProblem(
                f"{key}.auto_requires_precedent",
                "has no effect: the action lists no auto_tiers, so it never runs by itself",
            )
        )
    if spec.shadow and policy.mode == "shadow":
        problems.append(
            LintProblem(f"{key}.shadow", "has no effect: the whole policy is in mode: shadow")
        )
    for kind in ("auto_tiers", "approval_tiers"):
        for tier in getattr(spec, kind):
            if tier not in tiers:
                problems.append(LintProblem(f"{key}.{kind}", f"no service has the tier {tier!r}"))
    for tier in spec.approval_tiers:
        people = policy.approvers_for(tier)
        if not people:
            problems.append(
                LintProblem(
                    f"{key}.approval_tiers",
                    f"waits for approval on {tier!r} but approvers.{tier} lists nobody",
                )
            )
        elif len(people) < policy.quorum_for(tier):
            problems.append(
                LintProblem(
                    f"{key}.approval_tiers",
                    f"waits for approval on {tier!r} but approvers.{tier} cannot reach the "
                    f"quorum of {policy.quorum_for(tier)}",
                )
            )
    return problems


def _placeholders(template: str) -> set[str]:
    """The ``{field}`` names of a ``str.format`` template; ValueError if it is not one."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
