"""Every writer locks in the ingest writer's order: the audit append lock, then incident rows.

On PostgreSQL the opposite order deadlocks: a human's action that locks an incident row and
then appends to the audit log waits for the ingest writer, which holds the append lock and
waits for that row (a repeat alert of the same incident). PostgreSQL then aborts one of them.
Each case here makes exactly that interleaving happen, with the real ingest path and the
real human actions, and checks that both commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import select

from tests.approval.factories import NOW, current_digest, policy, triaged
from tests.conftest import fresh_pg_database
from warden import correlate
from warden.approval import expire_overdue, submit
from warden.config import Settings
from warden.domain import ApprovalChannel, Verdict
from warden.ingest.accept import Delivery, Parsed, parse, store_parsed
from warden.store import AuditRow, IncidentRow, Store

LATER = NOW + timedelta(minutes=1)
# Long enough for the human's action to reach whatever lock it waits on first.
_HEAD_START_S = 0.5


@pytest.fixture
def pg_store(pg_server_url: str) -> Iterator[Store]:
    url, drop = fresh_pg_database(pg_server_url)
    store = Store(url)
    store.migrate()
    yield store
    store.dispose()
    drop()


def _delivery(title: str) -> Parsed:
    body = {"service": "payment-gateway", "title": title, "severity": "high"}
    return parse(Delivery("generic", orjson.dumps(body), {}),
                 settings=Settings(database_url="sqlite://"), now=LATER)


def _waiting_incident(store: Store, *, expired: bool = False) -> tuple[int, Parsed]:
    """An incident waiting for approval, and a repeat alert of it still to arrive."""
    repeat = _delivery("Cache memory at 97%")
    incident_id = triaged(store, policy(), ttl_minutes=-1 if expired else 30)
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        row.key = repeat.alerts[0].incident_key
        if expired:
            row.pending_step = None  # the notify step ran; the request then lapsed
    return incident_id, repeat


def _acknowledge(store: Store, incident_id: int) -> None:
    with store.session() as session:
        correlate.acknowledge(session, incident_id, user="alice", now=LATER)


def _resolve(store: Store, incident_id: int) -> None:
    with store.session() as session:
        correlate.resolve(session, incident_id, user="alice", now=LATER)


def _approve(store: Store, incident_id: int) -> None:
    submit(store, incident_id=incident_id, user="alice", verdict=Verdict.APPROVE,
           reason="looked at it", channel=ApprovalChannel.API,
           decision_digest=current_digest(store, incident_id), policy=policy(), now=LATER)


def _expire(store: Store, incident_id: int) -> None:
    with store.session() as session:
        assert expire_overdue(session, now=LATER) == 1


@pytest.mark.parametrize(("action", "kind", "expired"), [
    (_acknowledge, "incident.acknowledged", False),
    (_resolve, "incident.resolved", False),
    (_approve, "approval.approved", False),
    (_expire, "approval.expired", True),
])
def test_a_human_action_and_a_repeat_alert_of_its_incident_both_commit(
    pg_store: Store, action: Callable[[Store, int], None], kind: str, expired: bool,
) -> None:
    incident_id, repeat = _waiting_incident(pg_store, expired=expired)
    writer_appends, human_started = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def ingest_writer() -> None:
        # One writer transaction: a new incident (an append), then the repeat (its row).
        with pg_store.session() as session:
            store_parsed(session, _delivery("Disk full on db-1"))
            writer_appends.set()
            human_started.wait(5)
            time.sleep(_HEAD_START_S)
            store_parsed(session, repeat)

    def human() -> None:
        writer_appends.wait(5)
        human_started.set()
        action(pg_store, incident_id)

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported by the assertion below
                failures.append(exc)
        return run

    threads = [threading.Thread(target=guarded(w)) for w in (ingest_writer, human)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    with pg_store.session() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None and row.alert_count == 2
        kinds = set(session.scalars(
            select(AuditRow.kind).where(AuditRow.incident_id == incident_id)))
    assert kind in kinds
