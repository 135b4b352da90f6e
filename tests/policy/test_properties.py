"""Properties: whatever the model replies, ``execute`` needs every check to pass.

The oracle below restates the contract independently of ``decide``: a reply may only
execute when it parses, names a listed action, targets the incident's service, carries
exactly the declared params each fully matching its pattern, on a tier where the action
runs without approval.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warden.domain import History, Incident, Outcome, Proposal
from warden.policy import Policy, decide, parse_proposal

from .factories import NOW, incident, param_policy, reply

POLICY = param_policy()
SERVICES = ["checkout-web", "payment-gateway", "Checkout-Web", "", "checkout web"]
PASSING = {
    "clear_cache": {},
    "scale_out": {"replicas": "7", "zone": "eu-north-3"},
}
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _may_execute(policy: Policy, inc: Incident, raw: str | bytes) -> bool:
    proposal = parse_proposal(raw, categories=policy.categories)
    if not isinstance(proposal, Proposal) or proposal.suggested_action is None:
        return False
    action = proposal.suggested_action
    spec = policy.actions.get(action.name)
    if spec is None or action.service != inc.service:
        return False
    if set(action.params) != set(spec.params):
        return False
    for name, pattern in spec.params.items():
        if re.fullmatch(pattern.pattern, action.params[name], re.ASCII) is None:
            return False
    return policy.tier_of(inc.service) in spec.auto_tiers


def _outcome(inc: Incident, raw: str | bytes) -> Outcome:
    return decide(
        inc, parse_proposal(raw, categories=POLICY.categories), POLICY, History(), NOW
    ).outcome


def _assert_safe(inc: Incident, raw: str | bytes) -> None:
    if _outcome(inc, raw) is Outcome.EXECUTE:
        assert _may_execute(POLICY, inc, raw), raw


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
NEAR_MISSES: dict[str, st.SearchStrategy[Any]] = {
    "category": st.sampled_from(["Latency", "latency ", "security"]),
    "severity": st.sampled_from(["HIGH", "warning", ""]),
    "root_cause": st.text(max_size=20),
    "confidence": st.floats(min_value=-0.5, max_value=1.5) | st.booleans(),
    "suggested_action": st.none() | st.just("clear_cache"),
    "name": st.sampled_from([*PASSING, "rollback", "Clear_Cache", "clear_cache ", ""])
    | st.text(max_size=15),
    "service": st.sampled_from(SERVICES),
    "params": st.dictionaries(
        st.sampled_from(["replicas", "zone", "Replicas", "force"]) | st.text(max_size=8),
        st.sampled_from(["7", "eu-west-1", "7\n", "\uff17", "99"]) | st.text(max_size=8),
        max_size=3,
    ),
    "extra": st.sampled_from(["approved", "outcome", "tier"]),
}


@st.composite
def near_proposals(draw: st.DrawFn) -> dict[str, Any]:
    """A passing reply with up to two fields broken (by a near miss or any JSON), so that
    every check is reached, ``execute`` included."""
    name = draw(st.sampled_from(list(PASSING)))
    action: dict[str, Any] = {
        "name": name,
        "service": "checkout-web",
        "params": dict(PASSING[name]),
    }
    body: dict[str, Any] = {
        "category": "latency",
        "severity": "high",
        "root_cause": "stale cache",
        "suggested_action": action,
        "confidence": 0.5,
    }
    for field in draw(st.lists(st.sampled_from(list(NEAR_MISSES)), max_size=2)):
        value = draw(NEAR_MISSES[field] | json_values)
        if field == "extra":
            target = draw(st.sampled_from([body, action]))
            target[value if isinstance(value, str) else "approved"] = True
        elif field in action:
            action[field] = value
        else:
            body[field] = value
    return body


@FAST
@given(raw=st.binary(max_size=300), service=st.sampled_from(SERVICES))
def test_arbitrary_bytes_never_execute_unchecked(raw: bytes, service: str) -> None:
    _assert_safe(incident(service), raw)


@FAST
@given(value=json_values, service=st.sampled_from(SERVICES))
def test_arbitrary_json_never_executes_unchecked(value: Any, service: str) -> None:
    _assert_safe(incident(service), json.dumps(value))


@FAST
@given(
    body=near_proposals(),
    service=st.sampled_from(["checkout-web", *SERVICES]),
    ascii_only=st.booleans(),
)
def test_near_proposals_never_execute_unchecked(
    body: dict[str, Any], service: str, ascii_only: bool
) -> None:
    _assert_safe(incident(service), json.dumps(body, ensure_ascii=ascii_only))


chars = st.integers(min_value=0, max_value=0x10FFFF).map(chr)  # lone surrogates included


def _mutate(text: str, index: int, char: str, how: str) -> str:
    i = index % (len(text) + (how == "insert"))
    if how == "replace":
        return text[:i] + char + text[i + 1 :]
    if how == "delete":
        return text[:i] + text[i + 1 :]
    return text[:i] + char + text[i:]


mutations = st.tuples(
    st.integers(min_value=0, max_value=40), chars, st.sampled_from(["replace", "delete", "insert"])
)


@FAST
@given(action=st.sampled_from(list(PASSING)), mutation=mutations)
def test_mutating_a_passing_action_name_never_executes(
    action: str, mutation: tuple[int, str, str]
) -> None:
    assert _outcome(incident(), reply(action, params=PASSING[action])) is Outcome.EXECUTE
    mutated = _mutate(action, *mutation)
    if mutated == action:
        return
    assert _outcome(incident(), reply(mutated, params=PASSING[action])) is not Outcome.EXECUTE


@FAST
@given(
    param=st.sampled_from(["replicas", "zone"]),
    part=st.sampled_from(["name", "value"]),
    mutation=mutations,
)
def test_mutating_a_passing_param_never_executes(
    param: str, part: str, mutation: tuple[int, str, str]
) -> None:
    params = dict(PASSING["scale_out"])
    if part == "name":
        mutated = _mutate(param, *mutation)
        params[mutated] = params.pop(param)
        changed = mutated != param
    else:
        mutated = _mutate(params[param], *mutation)
        # A value may mutate into another valid one (7 -> 8); the ASCII oracle says which.
        pattern = POLICY.actions["scale_out"].params[param].pattern
        changed = re.fullmatch(pattern, mutated, re.ASCII) is None
        params[param] = mutated
    outcome = _outcome(incident(), reply("scale_out", params=params))
    assert outcome is not Outcome.EXECUTE if changed else outcome is Outcome.EXECUTE


@FAST
@given(mutation=mutations)
def test_mutating_the_target_never_executes(mutation: tuple[int, str, str]) -> None:
    mutated = _mutate("checkout-web", *mutation)
    if mutated != "checkout-web":
        assert _outcome(incident(), reply(service=mutated)) is not Outcome.EXECUTE
