"""The policy stage: a pure, default-deny verdict on what the model proposes.

The contract is ../shared/design/policy.md. ``load_policy`` turns the policy file into a
frozen ``Policy``; ``parse_proposal`` turns the model's raw reply into a ``Proposal`` or a
``MalformedProposal``; ``decide`` returns the ``Decision``. Nothing here does I/O beyond
reading the policy file, or reads the clock.
"""

from warden.policy._cases import check_case_line, check_reply, decision_json, parse_now
from warden.policy._decide import decide
from warden.policy._lint import LintProblem, lint_policy
from warden.policy._load import default_policy, load_policy, load_policy_text
from warden.policy._model import (
    CRITICAL_TIER,
    DEFAULT_CATEGORIES,
    ExecutorSpec,
    FreezeWindow,
    Policy,
    VerifySpec,
)
from warden.policy._proposal import MAX_REPLY_BYTES, parse_proposal, proposal_json_schema
from warden.policy._replay import (
    INPUTS_EVENT,
    DecisionInputs,
    RecordedDecision,
    ReplayResult,
    decide_inputs,
    inputs_from_json,
    inputs_json,
    policy_digest,
    replay,
)
from warden.policy._suite import PolicyTestResult, run_policy_tests

__all__ = [
    "CRITICAL_TIER",
    "DEFAULT_CATEGORIES",
    "INPUTS_EVENT",
    "MAX_REPLY_BYTES",
    "DecisionInputs",
    "ExecutorSpec",
    "FreezeWindow",
    "LintProblem",
    "Policy",
    "PolicyTestResult",
    "RecordedDecision",
    "ReplayResult",
    "VerifySpec",
    "check_case_line",
    "check_reply",
    "decide",
    "decide_inputs",
    "decision_json",
    "default_policy",
    "inputs_from_json",
    "inputs_json",
    "lint_policy",
    "load_policy",
    "load_policy_text",
    "parse_now",
    "parse_proposal",
    "policy_digest",
    "proposal_json_schema",
    "replay",
    "run_policy_tests",
]
