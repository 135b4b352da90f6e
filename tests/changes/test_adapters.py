"""The change adapters as pure functions: the same delivery gives the same change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import warden.changes
import warden.changes.sources
from tests.changes.conftest import sample
from warden.changes import Change, ChangeKind
from warden.changes.sources import change_adapters
from warden.config import Settings
from warden.domain import service_key
from warden.ingest.accept import Delivery

RECEIVED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GITHUB = {"X-GitHub-Event": "deployment_status"}


@pytest.mark.parametrize(("sender", "name", "headers", "service", "version", "at"), [
    ("generic", "generic-deploy.json", {}, "checkout-web", "v2.4.1",
     datetime(2026, 12, 1, 9, 58, tzinfo=UTC)),
    ("pagerduty", "pagerduty-change.json", {}, "Snapshots", "v1.9.0",
     datetime(2026, 12, 1, 9, 40, 12, 315000, tzinfo=UTC)),
    ("github", "github-deployment-status-success.json", GITHUB, "billing-api", "v3.2.0",
     datetime(2026, 12, 1, 10, 5, 30, tzinfo=UTC)),
])
def test_each_sample_parses_to_one_deploy_the_same_every_time(
    sender: str, name: str, headers: dict[str, str], service: str, version: str,
    at: datetime,
) -> None:
    adapter = change_adapters(Settings())[sender]
    delivery = Delivery(f"changes-{sender}", sample(name), headers)
    first = adapter.parse(delivery, received_at=RECEIVED)
    again = adapter.parse(delivery, received_at=datetime(2027, 1, 1, tzinfo=UTC))
    assert isinstance(first, Change)
    assert first == again
    assert (first.source, first.service, first.version, first.kind, first.at) == (
        sender, service, version, ChangeKind.DEPLOY, at)
    assert len(first.sender_key) == 64


@pytest.mark.parametrize(("name", "key"), [
    ("Checkout-Web", "checkout-web"),
    ("CHECKOUT", "checkout"),
    ("\u212aafka", "\u212aafka"),  # the Kelvin sign is not ASCII: it does not fold to "k"
    ("Ünïcode", "Ünïcode"),
])
def test_service_key_folds_ascii_only(name: str, key: str) -> None:
    assert service_key(name) == key


def test_the_public_api_is_exactly_all() -> None:
    assert sorted(warden.changes.__all__) == [
        "Change", "ChangeKind", "ChangePage", "Ignored", "Recorded", "RecordedChange",
        "accept_change", "auth_source", "changes_before", "deployed_versions",
        "list_changes", "parse_change", "record",
    ]
    assert sorted(warden.changes.sources.__all__) == [
        "ChangeAdapter", "GenericChangeAdapter", "GitHubChangeAdapter",
        "PagerDutyChangeAdapter", "change_adapters",
    ]
    for module in (warden.changes, warden.changes.sources):
        for name in module.__all__:
            assert getattr(module, name) is not None
