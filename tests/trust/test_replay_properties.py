"""Property: replaying the policy that made a decision, from its recorded inputs, changes
nothing, whatever the incident, the model's reply, the history and the moment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.policy.factories import incident, param_policy, reply, v2_policy
from warden.domain import History, IncidentAlert
from warden.policy import (
    DecisionInputs,
    RecordedDecision,
    decide_inputs,
    decision_json,
    inputs_from_json,
    inputs_json,
    policy_digest,
    replay,
)

POLICIES = [v2_policy(), param_policy()]
SERVICES = ["checkout-web", "payment-gateway", "Checkout-Web", "checkout web", ""]
TEXTS = st.sampled_from(["CheckoutLatencyHigh", "account takeover attempt", "disk 91%", ""])

alerts = st.builds(IncidentAlert, title=TEXTS, description=TEXTS,
                   labels=st.dictionaries(st.sampled_from(["team", "alertname"]),
                                          st.sampled_from(["security", "web", "x"]), max_size=2))
replies = st.one_of(
    st.builds(reply, name=st.sampled_from(["clear_cache", "restart_canary", "rollback",
                                           "purge_cdn", "scale_out", "nope"]),
              service=st.sampled_from(SERVICES),
              params=st.dictionaries(st.sampled_from(["version", "replicas", "zone"]),
                                     st.sampled_from(["v1.2.3", "v1.4.0", "7", "eu-north-3"]),
                                     max_size=2)),
    st.builds(reply, name=st.none()),
    st.text(max_size=30),
)
histories = st.builds(
    History,
    automated_executions_last_hour=st.integers(0, 30),
    service_executions_last_hour=st.integers(0, 5),
    last_automated_minutes_ago=st.none() | st.floats(0, 120, allow_nan=False),
    frozen=st.booleans(),
    deployed_versions=st.lists(st.sampled_from(["v1.2.3", "v1.4.0", "v1.5.0"]),
                               max_size=3).map(tuple),
    precedents=st.integers(0, 3),
)
moments = st.builds(
    lambda minutes, offset: (datetime(2026, 6, 1, tzinfo=UTC) + timedelta(minutes=minutes))
    .astimezone(timezone(timedelta(hours=offset))),
    st.integers(0, 60 * 24 * 60), st.integers(-12, 12))
inputs = st.builds(
    DecisionInputs,
    incident=st.builds(lambda service, title, held: incident(service, title=title,
                                                             alerts=tuple(held)),
                       st.sampled_from(SERVICES), TEXTS, st.lists(alerts, max_size=3)),
    proposal_raw=replies, history=histories, decided_at=moments)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recorded=st.lists(inputs, max_size=5), which=st.sampled_from(range(len(POLICIES))))
def test_replaying_the_policy_in_force_changes_nothing(
    recorded: list[DecisionInputs], which: int
) -> None:
    policy = POLICIES[which]
    stored = []
    for made in recorded:
        # As the audit log keeps it: JSON text, read back.
        data = json.loads(json.dumps(inputs_json(made)))
        assert inputs_from_json(data) == made
        stored.append(RecordedDecision(incident_id=made.incident.id, stage="triage",
                                       inputs=inputs_from_json(data),
                                       before=decision_json(decide_inputs(made, policy))))
    result = replay(stored, policy)
    assert (result.replayed, result.changed, dict(result.summary)) == (len(recorded), (), {})


def test_the_policy_digest_names_what_decides_not_where_it_came_from() -> None:
    assert policy_digest(v2_policy()) == policy_digest(v2_policy())
    assert policy_digest(v2_policy()) != policy_digest(param_policy())


def test_an_unreadable_record_says_what_it_lacks() -> None:
    data = inputs_json(DecisionInputs(incident=incident(), proposal_raw=reply(),
                                      history=History(),
                                      decided_at=datetime(2026, 6, 1, tzinfo=UTC)))
    del data["history"]
    with pytest.raises(ValueError, match="lack 'history'"):
        inputs_from_json(data)
