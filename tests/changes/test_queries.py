"""The store queries other stages read: recorded deploys (grounded params) and evidence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from warden.changes import Change, ChangeKind, changes_before, deployed_versions, record
from warden.ingest.accept import Delivery
from warden.store import Store

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    store.migrate()
    yield store
    store.dispose()


def add(store: Store, service: str, version: str | None, ago: timedelta,
        kind: ChangeKind = ChangeKind.DEPLOY) -> None:
    at = NOW - ago
    change = Change(source="generic", sender_key=f"{service}-{version}-{at.isoformat()}",
                    service=service, kind=kind, at=at, version=version)
    with store.session() as session:
        record(session, change, delivery=Delivery("changes-generic", b"{}", {}),
               received_at=NOW)


def test_deployed_versions_oldest_first_newest_current(store: Store) -> None:
    day = timedelta(days=1)
    add(store, "checkout", "v0.9.0", 40 * day)           # older than grounding_days
    add(store, "checkout", "v1.0.0", 20 * day)
    add(store, "Checkout", "v1.1.0", 10 * day)           # another case: the same service
    add(store, "CHECKOUT", "v1.1.0", 9 * day)            # redeployed: counts once
    add(store, "checkout", "v1.2.0", 1 * day)
    add(store, "checkout", "v9.9.9", 2 * day, ChangeKind.CONFIG)  # not a deploy
    add(store, "checkout", None, timedelta(hours=1))                  # no version
    add(store, "checkout", "v2.0.0", -timedelta(hours=1))             # not yet
    add(store, "checkout-web", "v5.0.0", 3 * day)                     # another service
    with store.session() as session:
        assert deployed_versions(session, "checkout", NOW, 30) == (
            "v1.0.0", "v1.1.0", "v1.2.0")
        assert deployed_versions(session, "CheckOut", NOW, 30) == (
            "v1.0.0", "v1.1.0", "v1.2.0")
        assert deployed_versions(session, "checkout", NOW, 5) == ("v1.2.0",)
        assert deployed_versions(session, "nothing", NOW, 30) == ()


def test_changes_before_the_first_alert_newest_first(store: Store) -> None:
    minute = timedelta(minutes=1)
    add(store, "checkout", "v1.0.0", 200 * minute)                    # outside the window
    add(store, "checkout", "v1.1.0", 100 * minute)
    add(store, "Checkout", None, 20 * minute, ChangeKind.FLAG)
    add(store, "checkout", "v1.2.0", 2 * minute)
    add(store, "checkout", "v1.3.0", -minute)                         # after the alert
    add(store, "search", "v7.0.0", 2 * minute)
    with store.session() as session:
        found = changes_before(session, "CHECKOUT", NOW, 120)
    assert [(c.change.version, c.change.kind) for c in found] == [
        ("v1.2.0", ChangeKind.DEPLOY), (None, ChangeKind.FLAG), ("v1.1.0", ChangeKind.DEPLOY)]
    assert {c.service_key for c in found} == {"checkout"}
