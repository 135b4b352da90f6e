"""Incident memory on the real databases (SQLite FTS5, PostgreSQL full-text search):
similar past incidents from a corpus of known groups, what each says happened, and the
frequency label over 30 days."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from warden.investigate import Case, Investigator
from warden.investigate.sources.memory import MemorySource
from warden.store import ApprovalRow, ExecutionRow, IncidentRow, Store

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)

# Six faults, each with its service, alertname and the words its alerts use.
GROUPS: dict[str, tuple[str, str, list[str]]] = {
    "latency": ("checkout", "HighLatency", [
        "p99", "latency", "slow", "responses", "upstream", "timeout", "milliseconds",
        "percentile", "request", "duration"]),
    "disk": ("payments", "DiskFull", [
        "disk", "volume", "partition", "filling", "filesystem", "inodes", "bytes",
        "mount", "storage", "capacity"]),
    "oom": ("search", "OOMKilled", [
        "memory", "oom", "killed", "heap", "container", "exhausted", "rss", "cgroup",
        "allocation", "jvm"]),
    "cert": ("auth", "CertExpiry", [
        "certificate", "tls", "expires", "renew", "x509", "ssl", "handshake", "issuer",
        "validity", "chain"]),
    "queue": ("mailer", "QueueBacklog", [
        "queue", "backlog", "consumers", "lagging", "jobs", "waiting", "worker",
        "messages", "throughput", "enqueued"]),
    "replication": ("ledger-db", "ReplicationLag", [
        "replica", "replication", "lag", "primary", "postgres", "wal", "standby",
        "streaming", "seconds", "behind"]),
}
NOISE = ["production", "alert", "warning", "service", "cluster", "eu", "node", "high"]
OTHER_SERVICES = ["orders", "gateway", "billing"]


def text_of(rng: random.Random, group: str) -> tuple[str, str]:
    words = GROUPS[group][2]
    title = " ".join(rng.sample(words, 3) + rng.sample(NOISE, 1))
    description = " ".join(rng.sample(words, 3) + rng.sample(NOISE, 2))
    return title, description


def add_incident(session: Any, *, service: str, title: str, description: str = "",
                 alertname: str | None = None, at: datetime) -> IncidentRow:
    row = IncidentRow(
        key=f"k-{service}-{title}-{at.isoformat()}", source="generic", service=service,
        title=title, description=description,
        labels={"alertname": alertname} if alertname else {}, status="resolved",
        first_seen=at, last_seen=at, resolved_at=at + timedelta(minutes=12))
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    store.migrate()
    yield store
    store.dispose()


def investigator(store: Store) -> Investigator:
    return Investigator([MemorySource(store.session, timeout_s=10)], deadline_s=10,
                        max_item_bytes=65536)


def similar_ids(store: Store, row: IncidentRow) -> list[int]:
    (item,) = investigator(store).collect(Case(
        incident_id=row.id, service=row.service, title=row.title,
        description=row.description, labels=row.labels, first_seen=row.first_seen,
        alerts=(), now=NOW))
    assert item.error is None, item.error
    return [p["id"] for p in item.data["incidents"]]


def test_top_three_come_from_the_incident_group(store: Store) -> None:
    """60 past incidents, ten per fault: seven on the fault's own service and alert, three
    on other services under other alert names; then 30 new incidents, half of them with a
    known service and alert, half only alike in words. The top three of at least 90%
    come from the new incident's group, all three."""
    rng = random.Random(18)
    group_of: dict[int, str] = {}
    with store.session() as session:
        for group, (service, alertname, _) in GROUPS.items():
            for n in range(10):
                title, description = text_of(rng, group)
                own = n < 7
                row = add_incident(
                    session, service=service if own else rng.choice(OTHER_SERVICES),
                    alertname=alertname if own else f"{alertname}Other{n}", title=title,
                    description=description, at=NOW - timedelta(days=rng.randint(1, 25)))
                group_of[row.id] = group
        queries: list[tuple[IncidentRow, str]] = []
        for group, (service, alertname, _) in GROUPS.items():
            for n in range(5):
                title, description = text_of(rng, group)
                known = n < 2
                row = add_incident(
                    session, service=service if known else rng.choice(OTHER_SERVICES),
                    alertname=alertname if known else f"Fresh{group}{n}", title=title,
                    description=description, at=NOW - timedelta(minutes=5))
                queries.append((row, group))
    hits = 0
    for row, group in queries:
        found = similar_ids(store, row)
        assert len(found) == 3
        hits += all(group_of.get(i) == group for i in found)
    assert hits / len(queries) >= 0.9, f"{hits} of {len(queries)}"


def test_each_similar_incident_says_what_was_done(store: Store) -> None:
    with store.session() as session:
        past = add_incident(session, service="Checkout", alertname="HighLatency",
                            title="p99 latency 3s", at=NOW - timedelta(days=2))
        past.proposal = {"category": "latency", "root_cause": "cache cold",
                         "suggested_action": {"name": "clear_cache", "service": "Checkout",
                                              "params": {}}}
        past.decision_outcome = "needs_approval"
        session.add(ApprovalRow(incident_id=past.id, approver="alice", verdict="approve",
                                reason="seen this before", channel="web",
                                at=NOW - timedelta(days=2)))
        session.add(ExecutionRow(
            incident_id=past.id, idempotency_key="x1", service="Checkout",
            action={"name": "clear_cache", "service": "Checkout", "params": {}},
            executor="http", status="succeeded", automated=False, dry_run=False,
            started_at=NOW - timedelta(days=2), verification={"status": "passed"}))
        new = add_incident(session, service="checkout", alertname="HighLatency",
                           title="p99 latency 4s", at=NOW)
    (item,) = investigator(store).collect(Case(
        incident_id=new.id, service=new.service, title=new.title, description="",
        labels=new.labels, first_seen=new.first_seen, alerts=(), now=NOW))
    (remembered,) = item.data["incidents"]
    assert remembered["match"] == "same_alert"
    assert remembered["verdicts"] == [
        {"approver": "alice", "verdict": "approve", "reason": "seen this before"}]
    assert remembered["fixed_by"]["name"] == "clear_cache"
    assert remembered["minutes_to_resolve"] == 12
    assert ("proposed clear_cache [latency]; policy needs_approval; approve by alice "
            "(seen this before); ran clear_cache: succeeded, verification passed; "
            "resolved in 12 min") in item.summary


@pytest.mark.parametrize(("same", "others", "label"), [
    (0, 20, "new"), (1, 19, "rare"), (2, 18, "occasional"), (4, 16, "frequent"),
])
def test_frequency_label_over_thirty_days(store: Store, same: int, others: int,
                                          label: str) -> None:
    with store.session() as session:
        for n in range(same):
            add_incident(session, service="API", alertname="Errors", title=f"e{n}",
                         at=NOW - timedelta(days=n + 1))
        for n in range(others):
            add_incident(session, service="api", alertname=f"Other{n}", title=f"o{n}",
                         at=NOW - timedelta(days=1, minutes=n))
        # Older than 30 days, or another service: never counted.
        for n in range(10):
            add_incident(session, service="api", alertname="Errors", title="old",
                         at=NOW - timedelta(days=31 + n))
            add_incident(session, service="web", alertname="Errors", title="web",
                         at=NOW - timedelta(days=1))
        new = add_incident(session, service="api", alertname="Errors", title="now", at=NOW)
    (item,) = investigator(store).collect(Case(
        incident_id=new.id, service=new.service, title=new.title, description="",
        labels=new.labels, first_seen=new.first_seen, alerts=(), now=NOW))
    assert item.data["frequency"] == label
    assert (item.data["same_alert_30d"], item.data["service_incidents_30d"]) == (
        same, same + others)
