"""``approval.submit`` against a real store: who counts, quorum, TTL, reject, re-check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.approval.factories import NOW, current_digest, incident, policy, triaged
from warden.approval import ApprovalState, Submitted, submit
from warden.domain import ApprovalChannel, Verdict
from warden.errors import ApprovalStateError, NotAllowed, StaleDecision, UnknownIncident
from warden.store import ApprovalRow, AuditRow, FreezeRow, IncidentRow, Store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A fresh store on SQLite and on PostgreSQL (the row locks differ)."""
    store = Store(store_url)
    store.migrate()
    yield store
    store.dispose()


def vote(store: Store, incident_id: int, user: str, verdict: str = "approve", *,
         minutes_later: float = 1, channel: ApprovalChannel = ApprovalChannel.API,
         yaml_text: str | None = None, reason: str = "looked at it",
         digest: str | None = None) -> Submitted:
    """A verdict on the decision ``digest`` (default: the current one, as a page shows it)."""
    the_policy = policy() if yaml_text is None else policy(yaml_text)
    if digest is None:
        digest = current_digest(store, incident_id)
    return submit(store, incident_id=incident_id, user=user, verdict=Verdict(verdict),
                  reason=reason, channel=channel, decision_digest=digest, policy=the_policy,
                  now=NOW + timedelta(minutes=minutes_later))


def retriage(store: Store, incident_id: int, *, minutes_later: float) -> None:
    """The worker decides again (a new alert re-triaged it): same proposal, new decision."""
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        row.decided_at = NOW + timedelta(minutes=minutes_later)


def counts(store: Store) -> tuple[int, int]:
    with store.session() as session:
        return (session.execute(select(func.count()).select_from(ApprovalRow)).scalar_one(),
                session.execute(select(func.count()).select_from(AuditRow)).scalar_one())


def test_critical_needs_two_distinct_approvers(store: Store) -> None:
    incident_id = triaged(store, policy())
    first = vote(store, incident_id, "alice")
    assert first.state is ApprovalState.PENDING and first.approved_by == ("alice",)
    again = vote(store, incident_id, "alice", minutes_later=2)
    assert again.state is ApprovalState.PENDING and again.approved_by == ("alice",)
    assert incident(store, incident_id).approval_state == "pending"
    assert approval_rows(store, incident_id) == [("alice", "approve")]  # one verdict, one row

    done = vote(store, incident_id, "carol", minutes_later=3)
    assert done.state is ApprovalState.APPROVED
    assert done.approved_by == ("alice", "carol") and done.needed == 2
    assert done.recheck is not None and done.recheck["outcome"] == "needs_approval"
    row = incident(store, incident_id)
    assert row.approval_state == "approved"
    # The notify step was still due: it hands over to execute itself.
    assert row.pending_step == "notify"


def approval_rows(store: Store, incident_id: int) -> list[tuple[str, str]]:
    with store.session() as session:
        return [(a.approver, a.verdict) for a in session.execute(
            select(ApprovalRow).where(ApprovalRow.incident_id == incident_id)
            .order_by(ApprovalRow.id)).scalars()]


def test_a_second_different_verdict_from_one_person_is_refused(store: Store) -> None:
    incident_id = triaged(store, policy())
    vote(store, incident_id, "alice")
    before = counts(store)
    with pytest.raises(ApprovalStateError, match="already"):
        vote(store, incident_id, "alice", "reject", minutes_later=2)
    assert counts(store) == before
    assert incident(store, incident_id).approval_state == "pending"


def test_a_verdict_on_a_stale_decision_is_refused_and_records_nothing(store: Store) -> None:
    incident_id = triaged(store, policy())
    seen = current_digest(store, incident_id)  # the page the approver opened
    retriage(store, incident_id, minutes_later=2)
    before = counts(store)
    for verdict in ("approve", "reject"):
        with pytest.raises(StaleDecision) as refused:
            vote(store, incident_id, "alice", verdict, minutes_later=3, digest=seen)
        assert refused.value.status_code == 409
    assert counts(store) == before
    assert incident(store, incident_id).approval_state == "pending"


def test_an_approval_of_an_earlier_decision_never_counts_later(store: Store) -> None:
    incident_id = triaged(store, policy())
    vote(store, incident_id, "alice", minutes_later=1)
    retriage(store, incident_id, minutes_later=2)
    # Alice's approval was of the first decision: the new one still needs two.
    done = vote(store, incident_id, "carol", minutes_later=3)
    assert done.state is ApprovalState.PENDING and done.approved_by == ("carol",)
    done = vote(store, incident_id, "alice", minutes_later=4)
    assert done.state is ApprovalState.APPROVED and done.approved_by == ("carol", "alice")


def test_quorum_after_notification_schedules_execute(store: Store) -> None:
    incident_id = triaged(store, policy())
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        row.pending_step = None  # notified; waiting
    vote(store, incident_id, "alice")
    vote(store, incident_id, "carol")
    assert incident(store, incident_id).pending_step == "execute"


@pytest.mark.parametrize("user", ["bob", "mallory", "Alice"])
def test_unlisted_user_is_refused_and_nothing_changes(store: Store, user: str) -> None:
    incident_id = triaged(store, policy())
    before = counts(store)
    with pytest.raises(NotAllowed):
        vote(store, incident_id, user)
    with pytest.raises(NotAllowed):
        vote(store, incident_id, user, "reject")
    assert counts(store) == before
    assert incident(store, incident_id).approval_state == "pending"


def test_channel_not_allowed_for_the_tier(store: Store) -> None:
    restricted = POLICY_WITH_CHANNELS
    incident_id = triaged(store, policy(restricted))
    with pytest.raises(NotAllowed, match="slack"):
        vote(store, incident_id, "alice", channel=ApprovalChannel.CLI, yaml_text=restricted)
    done = vote(store, incident_id, "alice", channel=ApprovalChannel.SLACK, yaml_text=restricted)
    assert done.approved_by == ("alice",)


def test_reject_ends_it(store: Store) -> None:
    incident_id = triaged(store, policy())
    vote(store, incident_id, "alice")
    done = vote(store, incident_id, "carol", "reject", reason="not during the sale")
    assert done.state is ApprovalState.REJECTED
    assert incident(store, incident_id).approval_state == "rejected"
    with pytest.raises(ApprovalStateError, match="rejected"):
        vote(store, incident_id, "carol", minutes_later=2)


def test_expired_request_is_refused_and_marked(store: Store) -> None:
    incident_id = triaged(store, policy(), ttl_minutes=30)
    vote(store, incident_id, "alice", minutes_later=10)
    with pytest.raises(ApprovalStateError, match="expired"):
        vote(store, incident_id, "carol", minutes_later=30)
    row = incident(store, incident_id)
    assert row.approval_state == "expired"
    assert row.pending_step == "notify"  # untouched: nothing runs
    with store.session() as session:
        kinds = session.execute(select(AuditRow.kind).where(
            AuditRow.incident_id == incident_id).order_by(AuditRow.id)).scalars().all()
    assert kinds[-1] == "approval.expired"


def test_nothing_pending(store: Store) -> None:
    automatic = triaged(store, policy(), service="checkout-web")
    with pytest.raises(ApprovalStateError, match="does not wait"):
        vote(store, automatic, "alice")
    with pytest.raises(UnknownIncident):
        vote(store, 999, "alice")


def test_recheck_blocks_when_the_policy_changed(store: Store) -> None:
    incident_id = triaged(store, policy())
    vote(store, incident_id, "alice")
    # By the second approval the policy no longer allows clear_cache on critical services.
    stricter = POLICY_NO_CRITICAL_CACHE
    done = vote(store, incident_id, "carol", yaml_text=stricter)
    assert done.state is ApprovalState.BLOCKED
    assert done.recheck is not None and done.recheck["reasons"][0]["code"] == "tier_not_allowed"
    row = incident(store, incident_id)
    assert row.approval_state == "blocked"
    assert row.pending_step == "notify"


def test_recheck_needs_approval_for_any_reason_is_satisfied(store: Store) -> None:
    incident_id = triaged(store, policy())
    with store.session() as session:
        session.add(FreezeRow(service="payment-gateway", reason="loop", frozen_by="test",
                              incident_id=None, at=NOW))
    vote(store, incident_id, "alice")
    done = vote(store, incident_id, "carol")
    assert done.state is ApprovalState.APPROVED
    assert done.recheck is not None
    assert [r["code"] for r in done.recheck["reasons"]] == ["loop_breaker", "approval_required"]


POLICY_WITH_CHANNELS = """
version: 1
mode: live
services: {payment-gateway: {tier: critical}, "*": {tier: standard}}
actions:
  clear_cache:
    auto_tiers: [standard]
    approval_tiers: [critical]
    executor: {type: http, method: POST, url: "http://127.0.0.1:9/cache/{service}/clear"}
approvers: {standard: [alice], critical: [alice, carol], critical_quorum: 2}
approval_channels: {critical: [slack, console]}
"""

POLICY_NO_CRITICAL_CACHE = """
version: 1
mode: live
services: {payment-gateway: {tier: critical}, "*": {tier: standard}}
actions:
  clear_cache:
    auto_tiers: [standard]
    executor: {type: http, method: POST, url: "http://127.0.0.1:9/cache/{service}/clear"}
approvers: {standard: [alice], critical: [alice, carol], critical_quorum: 2}
"""
