"""``lint_policy``: a policy that loads but cannot work as written."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from warden.policy import LintProblem, default_policy, lint_policy, load_policy_text

from .factories import PARAM_POLICY_YAML, v2_policy


def _lint(change: dict[str, Any]) -> list[str]:
    doc = yaml.safe_load(PARAM_POLICY_YAML)
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        target = doc
        for part in parents:
            target = target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return [str(p) for p in lint_policy(load_policy_text(yaml.safe_dump(doc)))]


def test_the_example_policy_is_clean() -> None:
    assert lint_policy(default_policy()) == ()


def test_grounded_precedent_and_shadow_keys_lint_clean() -> None:
    assert lint_policy(v2_policy()) == ()
    assert _lint({}) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"actions.clear_cache.executor": None},
            "actions.clear_cache: has no executor, so it can never run",
        ),
        (
            {"actions.clear_cache.auto_tiers": ["gold"]},
            "actions.clear_cache.auto_tiers: no service has the tier 'gold'",
        ),
        (
            {"actions.clear_cache.auto_tiers": [], "actions.clear_cache.approval_tiers": []},
            "actions.clear_cache: lists no tier, so it is always blocked",
        ),
        ({"approvers.bronze": ["bob"]}, "approvers.bronze: no service has the tier 'bronze'"),
        (
            {"approvers.critical": ["alice", "alice"]},
            "approvers.critical: 1 distinct approver(s) can never reach the quorum of 2",
        ),
        (
            {"approvers.critical_quorum": 3},
            "approvers.critical: 2 distinct approver(s) can never reach the quorum of 3",
        ),
        (
            {"approvers.critical": None},
            "actions.clear_cache.approval_tiers: waits for approval on 'critical' but "
            "approvers.critical lists nobody",
        ),
        (
            {"approvers.critical": ["carol"]},
            "actions.clear_cache.approval_tiers: waits for approval on 'critical' but "
            "approvers.critical cannot reach the quorum of 2",
        ),
        (
            {"actions.scale_out.executor.argv": ["kubectl", "--replicas={count}"]},
            "actions.scale_out.executor: {count} in '--replicas={count}' is neither service "
            "nor a declared param",
        ),
        (
            {"actions.clear_cache.executor.url": "http://h/{service"},
            "actions.clear_cache.executor: 'http://h/{service' is not a template",
        ),
        (
            {"actions.scale_out.params.service": "^x$"},
            "actions.scale_out.params.service: shadows the {service} of the executor templates",
        ),
        ({"security": {}}, "security: no labels or patterns: no incident is ever a security one"),
        (
            {"security.patterns": ["(?i)x*"]},
            "security.patterns.0: matches the empty text, so every alert is security",
        ),
        (
            {"actions.rollback": {"approval_tiers": ["critical"], "auto_requires_precedent": True,
                                  "executor": {"type": "notify"}}},
            "actions.rollback.auto_requires_precedent: has no effect: the action lists no "
            "auto_tiers",
        ),
        (
            {"mode": "shadow", "actions.clear_cache.shadow": True},
            "actions.clear_cache.shadow: has no effect: the whole policy is in mode: shadow",
        ),
        (
            {"approval_channels": {"critical": []}},
            "approval_channels.critical: no channel is listed: nobody can approve",
        ),
    ],
)
def test_problems(change: dict[str, Any], problem: str) -> None:
    assert any(found.startswith(problem) for found in _lint(change)), _lint(change)


def test_a_problem_reads_as_key_then_message() -> None:
    assert str(LintProblem("actions.x", "has no executor")) == "actions.x: has no executor"
