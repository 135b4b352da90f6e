"""Selzee site-health reports: ``service_id``, an error message, a timestamp, anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.ingest.conftest import RECEIVED_AT, sample
from warden.domain import AlertStatus, Severity
from warden.errors import PayloadError
from warden.ingest.sources import ADAPTERS

adapter = ADAPTERS["selzee"]


def test_report() -> None:
    body = sample("selzee-report")
    [alert] = adapter.parse(body, received_at=RECEIVED_AT)
    assert alert.source == "selzee"
    assert alert.service == "shop-frontend"
    assert alert.title == "HTTP 503 Service Unavailable from https://shop.example.com/cart"
    assert alert.description == body["error"]
    assert alert.severity is None
    assert alert.labels == {}
    assert alert.incident_key == "selzee:shop-frontend"
    assert alert.status is AlertStatus.FIRING
    assert alert.starts_at == datetime(2026, 11, 26, 17, 40, 11, tzinfo=UTC)
    # Every field is kept, the ones Warden does not read included.
    assert alert.raw == body
    assert alert.raw["check_id"] == "chk_8a61f2"


def test_integer_service_id_epoch_timestamp_and_severity() -> None:
    [alert] = adapter.parse(sample("selzee-report-epoch"), received_at=RECEIVED_AT)
    assert alert.service == "4711"
    assert alert.title == "TLS handshake failed: certificate expired"
    assert alert.starts_at == datetime.fromtimestamp(1795714811, UTC)
    assert alert.severity is Severity.CRITICAL


@pytest.mark.parametrize(("fields", "message"), [
    ({"message": "m", "error": "e", "error_message": "x", "description": "d"}, "m"),
    ({"error": "e", "error_message": "x", "description": "d"}, "e"),
    ({"message": "", "error": None, "error_message": "x", "description": "d"}, "x"),
    ({"description": "d"}, "d"),
    ({"message": "m", "error": {"code": 503}}, "m"),
])
def test_message_is_the_first_present_field(fields: dict[str, object], message: str) -> None:
    [alert] = adapter.parse({"service_id": "api", **fields}, received_at=RECEIVED_AT)
    assert alert.description == message


def test_no_message_still_makes_an_alert() -> None:
    [alert] = adapter.parse({"service_id": "api"}, received_at=RECEIVED_AT)
    assert alert.title == "Selzee alert for api"
    assert alert.description == ""
    assert alert.starts_at == RECEIVED_AT


def test_long_first_line_is_cut_for_the_title_and_kept_whole() -> None:
    message = "\n  " + "x" * 300 + "\nsecond line"
    [alert] = adapter.parse({"service_id": "api", "message": message},
                            received_at=RECEIVED_AT)
    assert len(alert.title) == 200 and alert.title.endswith("…")
    assert alert.description == message


def test_differently_worded_errors_of_one_service_are_one_incident() -> None:
    [a] = adapter.parse({"service_id": "api", "error": "timeout after 3001ms"},
                        received_at=RECEIVED_AT)
    [b] = adapter.parse({"service_id": "api", "error": "connection refused"},
                        received_at=RECEIVED_AT)
    [c] = adapter.parse({"service_id": "web", "error": "connection refused"},
                        received_at=RECEIVED_AT)
    assert a.incident_key == b.incident_key != c.incident_key
    assert a.fingerprint != b.fingerprint


def test_a_retried_report_with_a_timestamp_is_the_same_delivery() -> None:
    [a] = adapter.parse(sample("selzee-report"), received_at=RECEIVED_AT)
    [b] = adapter.parse(sample("selzee-report"), received_at=RECEIVED_AT + timedelta(1))
    assert a.dedup_key == b.dedup_key


def test_reports_without_a_timestamp_all_count() -> None:
    body = {"service_id": "api", "error": "boom"}
    [a] = adapter.parse(body, received_at=RECEIVED_AT)
    [b] = adapter.parse(body, received_at=RECEIVED_AT + timedelta(seconds=1))
    assert a.dedup_key != b.dedup_key


@pytest.mark.parametrize(("body", "where"), [
    ("service_id=api", "$"),
    ({}, "$.service_id"),
    ({"service_id": None}, "$.service_id"),
    ({"service_id": ""}, "$.service_id"),
    ({"service_id": True}, "$.service_id"),
    ({"service_id": 2**70}, "$.service_id"),
    ({"service_id": ["api"]}, "$.service_id"),
    ({"service_id": "s" * 256}, "$.service_id"),
    ({"service_id": "api", "message": 500}, "$.message"),
    ({"service_id": "api", "error": {"code": 503}}, "$.error"),
    ({"service_id": "api", "error_message": "a\x00b"}, "$.error_message"),
    ({"service_id": "api", "timestamp": "late"}, "$.timestamp"),
    ({"service_id": "api", "timestamp": True}, "$.timestamp"),
    ({"service_id": "api", "timestamp": 1e300}, "$.timestamp"),
    ({"service_id": "api", "timestamp": 1795714811000}, "$.timestamp"),
    ({"service_id": "api", "severity": 3}, "$.severity"),
])
def test_wrong_shapes_name_where(body: object, where: str) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.parse(body, received_at=RECEIVED_AT)
    assert caught.value.where == where
