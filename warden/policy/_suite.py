"""A team's own policy tests, for ``warden policy test`` (like ``opa test``).

The file is a YAML list; each test is one alert, one model reply and what the policy
must answer::

    - name: clear_cache runs by itself on a standard service   # required, unique
      alert:                       # required: a normalised alert, or the incident form
                                   # {service, alerts: [...]}, as in `policy check`
        service: checkout-web
        title: CheckoutLatencyHigh
        description: p99 latency 2.4s
        labels: {severity: warning}
      proposal:                    # required: a mapping is sent as its JSON; a string is
        category: latency          # the model's raw reply exactly as written
        severity: high
        root_cause: stale cache
        suggested_action: {name: clear_cache, service: checkout-web, params: {}}
        confidence: 0.8
      history: {service_executions_last_hour: 1}   # optional, as in `policy check`
      now: "2026-12-25T03:00:00Z"  # optional; default: the current time
      expect:
        outcome: execute           # required: execute | needs_approval | blocked
        reason: allowed            # optional: the code of the deciding (first) reason

Unknown keys are refused, so a misspelt ``expect`` cannot pass silently. See
``examples/policy-tests.yaml``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from warden.domain import Decision, Outcome, ReasonCode
from warden.errors import PolicyCaseError
from warden.policy._cases import check_case
from warden.policy._load import UniqueKeyLoader
from warden.policy._model import Policy

_TEST_KEYS = frozenset({"name", "alert", "proposal", "history", "now", "expect"})
_REQUIRED = ("name", "alert", "proposal", "expect")
_EXPECT_KEYS = frozenset({"outcome", "reason"})


@dataclass(frozen=True, slots=True)
class PolicyTestResult:
    """One test's verdict: ``passed`` when the outcome (and reason, if given) match."""

    name: str
    expected_outcome: Outcome
    expected_reason: ReasonCode | None
    decision: Decision

    @property
    def passed(self) -> bool:
        if self.decision.outcome is not self.expected_outcome:
            return False
        return self.expected_reason is None or self.decision.reasons[0].code is self.expected_reason

    def diff(self) -> str:
        """Expected against actual, with every reason the policy gave."""
        want = self.expected_outcome.value
        if self.expected_reason is not None:
            want += f" ({self.expected_reason.value})"
        got = f"{self.decision.outcome.value} ({self.decision.reasons[0].code.value})"
        lines = [f"FAIL {self.name}", f"  - expected: {want}", f"  + actual:   {got}"]
        lines += [f"      {r.code.value}: {r.detail}" for r in self.decision.reasons]
        return "\n".join(lines)


def run_policy_tests(
    text: str, policy: Policy, *, default_now: datetime, source: str
) -> tuple[PolicyTestResult, ...]:
    """Run every test in the YAML ``text`` against ``policy``, in file order.

    Raises ``PolicyCaseError`` when the file or any test is unusable (no results then).
    """
    try:
        tests = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise PolicyCaseError(source, str(exc).replace("\n", " ")) from exc
    if not isinstance(tests, list) or not tests:
        raise PolicyCaseError(source, "the file must be a non-empty YAML list of tests")
    names: set[str] = set()
    prepared = []
    for index, test in enumerate(tests, 1):
        where = f"{source}: test {index}"
        case, outcome, reason = _prepare(test, where)
        if case["name"] in names:
            raise PolicyCaseError(where, f"the name {case['name']!r} is used twice")
        names.add(case["name"])
        prepared.append((f"{source}: {case['name']}", case, outcome, reason))
    return tuple(
        PolicyTestResult(
            name=case["name"],
            expected_outcome=outcome,
            expected_reason=reason,
            decision=check_case(case, policy, default_now, where),
        )
        for where, case, outcome, reason in prepared
    )


def _prepare(test: object, where: str) -> tuple[dict[str, Any], Outcome, ReasonCode | None]:
    """A test -> a case mapping in the ``policy check`` shape, and what it expects."""
    if not isinstance(test, dict):
        raise PolicyCaseError(where, "a test must be a mapping")
    if unknown := sorted(map(str, test.keys() - _TEST_KEYS)):
        raise PolicyCaseError(where, f"unknown keys: {', '.join(unknown)}")
    if missing := [key for key in _REQUIRED if key not in test]:
        raise PolicyCaseError(where, f"missing keys: {', '.join(missing)}")
    if not isinstance(test["name"], str) or not test["name"]:
        raise PolicyCaseError(where, "name must be a non-empty string")
    proposal = test["proposal"]
    if not isinstance(proposal, str):
        try:
            proposal = json.dumps(proposal)
        except (TypeError, ValueError) as exc:
            raise PolicyCaseError(where, f"proposal cannot be sent as JSON: {exc}") from exc
    expect = test["expect"]
    if not isinstance(expect, dict) or "outcome" not in expect or expect.keys() - _EXPECT_KEYS:
        raise PolicyCaseError(where, "expect must be {outcome: ..., reason: ...} (reason optional)")
    try:
        outcome = Outcome(expect["outcome"])
        reason = None if expect.get("reason") is None else ReasonCode(expect["reason"])
    except ValueError as exc:
        raise PolicyCaseError(where, f"expect: {exc}") from exc
    case = {
        "id": test["name"],
        "name": test["name"],
        "alert": test["alert"],
        "proposal_raw": proposal,
        "history": test.get("history"),
        "now": test.get("now"),
    }
    return case, outcome, reason
