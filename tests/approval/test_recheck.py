"""``approval.recheck`` against a real store: the policy again with the alerts, freezes and
executions of this moment, by service key (policy.md, checks 8 and 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.approval.factories import NOW, POLICY_YAML, policy, reply
from warden.approval import recheck
from warden.correlate import fold
from warden.domain import Alert, AlertStatus, Outcome, ReasonCode
from warden.loop_breaker import freeze, unfreeze
from warden.store import DeliveryRow, ExecutionRow, IncidentRow, Store

SECURED = policy(POLICY_YAML + "security:\n  patterns: ['(?i)\\baccount takeover\\b']\n")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    store.migrate()
    yield store
    store.dispose()


def _fold(session: Session, service: str, title: str, number: int) -> int:
    raw = {"service": service, "title": title}
    delivery = DeliveryRow(source="generic", received_at=NOW, content_type="application/json",
                           body=json.dumps(raw).encode())
    session.add(delivery)
    session.flush()
    alert = Alert(source="generic", service=service, title=title, description="",
                  severity=None, labels={}, fingerprint=f"fp-{number}",
                  incident_key=f"generic:{service}", dedup_key=f"d-{number}",
                  status=AlertStatus.FIRING, starts_at=NOW, raw=raw)
    return fold(session, alert, delivery_id=delivery.id, now=NOW).incident_id


def _triaged(store: Store, service: str) -> int:
    with store.session() as session:
        incident_id = _fold(session, service, "Cache memory at 97%", 1)
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        row.proposal_raw = reply("clear_cache", service)
        return incident_id


def _recheck(store: Store, incident_id: int) -> tuple[Outcome, ReasonCode]:
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        decision = recheck(session, row, policy=SECURED, now=NOW + timedelta(minutes=1),
                           stage="execute")
    return decision.outcome, decision.reasons[0].code


def test_a_security_alert_that_joined_after_triage_sends_it_to_a_human(store: Store) -> None:
    incident_id = _triaged(store, "checkout-web")
    assert _recheck(store, incident_id) == (Outcome.EXECUTE, ReasonCode.ALLOWED)
    with store.session() as session:
        assert _fold(session, "checkout-web", "Possible account takeover", 2) == incident_id
    assert _recheck(store, incident_id) == (Outcome.NEEDS_APPROVAL,
                                            ReasonCode.SECURITY_INCIDENT)


def test_a_freeze_of_another_spelling_holds(store: Store) -> None:
    incident_id = _triaged(store, "Checkout-Web")
    with store.session() as session:
        assert freeze(session, service="CHECKOUT-web", reason="test", frozen_by="loop_breaker",
                      incident_id=None, now=NOW)
        # Once frozen, every spelling is that one freeze.
        assert not freeze(session, service="checkout-web", reason="again",
                          frozen_by="loop_breaker", incident_id=None, now=NOW)
    assert _recheck(store, incident_id) == (Outcome.NEEDS_APPROVAL, ReasonCode.LOOP_BREAKER)
    with store.session() as session:
        lifted = unfreeze(session, service="checkout-WEB", user="alice", policy=SECURED,
                          now=NOW)
        assert lifted is not None and lifted.reason == "test"
    assert _recheck(store, incident_id) == (Outcome.EXECUTE, ReasonCode.ALLOWED)


def test_executions_of_another_spelling_count_toward_the_limits(store: Store) -> None:
    incident_id = _triaged(store, "checkout-web")
    with store.session() as session:
        for n, spelling in enumerate(("Checkout-Web", "CHECKOUT-WEB", "checkout-WEB")):
            session.add(ExecutionRow(
                incident_id=incident_id, idempotency_key=f"k{n}", service=spelling,
                action={"name": "clear_cache", "service": spelling, "params": {}},
                executor="http", status="succeeded", automated=True, dry_run=False,
                started_at=NOW - timedelta(minutes=50 - n)))
    assert _recheck(store, incident_id) == (Outcome.NEEDS_APPROVAL, ReasonCode.RATE_LIMITED)
