"""The hashes behind fingerprint, incident_key and dedup_key are stable and unambiguous."""

from __future__ import annotations

from datetime import UTC, datetime

from warden.ingest._fingerprint import digest, incident_key
from warden.ingest.sources import ADAPTERS


def test_digest_is_fixed_forever() -> None:
    # Stored dedup keys and incident keys depend on this exact encoding: changing it
    # would make every redelivery after an upgrade look new. The value is sha256sum of
    # the text ["generic","checkout",{"a":"1","b":"2"}].
    assert digest("generic", "checkout", {"b": "2", "a": "1"}) == (
        "e320ba93cb18482b51239528972ccbe24cc50127756bb085867098873f588931"
    )


def test_digest_ignores_key_order_and_keeps_part_boundaries() -> None:
    assert digest({"a": "1", "b": "2"}) == digest({"b": "2", "a": "1"})
    assert digest("a:b", "c") != digest("a", "b:c")
    assert digest("a", None) != digest("a")


def test_digest_takes_datetimes_and_any_string() -> None:
    when = datetime(2026, 11, 26, 17, 20, 8, tzinfo=UTC)
    assert digest(when) == digest("2026-11-26T17:20:08+00:00")
    assert len(digest("lone \ud800 surrogate")) == 64


def test_incident_key_is_readable_until_too_long() -> None:
    assert incident_key("selzee", "shop-frontend") == "selzee:shop-frontend"
    long = incident_key("alertmanager", "x" * 300)
    assert long == f"alertmanager:sha256:{digest('x' * 300)}"


def test_sources_are_exported() -> None:
    import warden.ingest.sources as sources

    assert sorted(ADAPTERS) == ["alertmanager", "generic", "grafana", "pagerduty", "selzee",
                               "slack"]
    assert sorted(sources.__all__) == [
        "ADAPTERS", "AlertmanagerAdapter", "GenericAdapter", "GrafanaAdapter",
        "PagerDutyAdapter", "SelzeeAdapter", "SlackAdapter", "SourceAdapter",
    ]
