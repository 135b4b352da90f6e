"""Warden as a drop-in for PagerDuty's Events API v2, driven by PagerDuty's own client.

The official ``pagerduty`` client only talks HTTPS, so Warden serves TLS here with a
certificate made for the test, which the client is told to trust.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pagerduty
import pytest

from tests.changes.conftest import sample, stored
from tests.conftest import RunningWarden, start_warden
from warden.config import Settings

ROUTING_KEY = "R0UT1NGKEY0000000000000000000001"
# submit() needs a timestamp: without one, pagerduty 7.2.0's default raises AttributeError
# (``datetime.timezone`` looked up on the datetime class).
NOW = datetime.now(UTC).isoformat()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True)
    return certificate, key


@pytest.fixture
def warden_tls(tls_files: tuple[Path, Path], sqlite_url: str) -> Iterator[RunningWarden]:
    running = start_warden(Settings(database_url=sqlite_url, worker_enabled=False,
                                    pagerduty_routing_keys=f"{ROUTING_KEY}:checkout"),
                           tls=tls_files)
    yield running
    running.stop()


@contextmanager
def events_client(running: RunningWarden, tls_files: tuple[Path, Path]) -> Iterator[Any]:
    """PagerDuty's client aimed at Warden; closed after, as an open keep-alive connection
    would hold up the server's shutdown."""
    client = pagerduty.EventsApiV2Client(ROUTING_KEY, base_url=running.url,
                                         verify=str(tls_files[0]))
    try:
        yield client
    finally:
        client.close()


def test_pagerduty_client_triggers_and_resolves_an_incident(
    warden_tls: RunningWarden, tls_files: tuple[Path, Path],
) -> None:
    with events_client(warden_tls, tls_files) as client, httpx.Client(
            base_url=warden_tls.url, verify=str(tls_files[0])) as api:
        dedup_key = client.trigger("p99 latency over 2s on checkout", "checkout-7f9c",
                                   dedup_key="checkout-latency", severity="error")
        assert dedup_key == "checkout-latency"
        generated = client.trigger("disk 95% on db-1", "db-1")  # no key: Warden makes one
        assert len(generated) == 64

        incidents = api.get("/v1/incidents", params={"status": "open"}).json()
        assert {i["title"] for i in incidents["items"]} == {
            "p99 latency over 2s on checkout", "disk 95% on db-1"}
        client.resolve("checkout-latency")
        still_open = api.get("/v1/incidents", params={"status": "open"}).json()
    assert [i["title"] for i in still_open["items"]] == ["disk 95% on db-1"]


def test_pagerduty_client_sends_change_events(
    warden_tls: RunningWarden, tls_files: tuple[Path, Path],
) -> None:
    with events_client(warden_tls, tls_files) as client, httpx.Client(
            base_url=warden_tls.url, verify=str(tls_files[0])) as api:
        client.submit("Deploy v2.4.1 of checkout", source="deployer", timestamp=NOW,
                      custom_details={"version": "v2.4.1"},
                      links=[{"href": "https://ci.example.com/p/9", "text": "pipeline"}])
        items = api.get("/v1/changes").json()["items"]
        # Raw, as any Events API v2 sender posts it: PagerDuty's answer, with a dedup_key.
        raw = api.post("/v2/change/enqueue", content=sample("pagerduty-change.json"))
        again = api.post("/v2/change/enqueue", content=sample("pagerduty-change.json"))
    assert [(i["service"], i["version"], i["source"], i["link"]) for i in items] == [
        ("checkout", "v2.4.1", "pagerduty", "https://ci.example.com/p/9")]
    assert raw.status_code == 202
    assert raw.json()["status"] == "success" and raw.json()["message"] == "Event processed"
    assert again.json() == raw.json()


@pytest.mark.parametrize(("path", "body", "error"), [
    ("/v2/enqueue", b'{"routing_key": "k", "event_action": "trigger", "payload": '
                    b'{"summary": "s", "source": "x", "severity": "bad"}}',
     "$.payload.severity: severity must be one of"),
    ("/v2/enqueue", b"{oops", "$: malformed JSON"),
    ("/v2/change/enqueue", b'{"routing_key": "k", "payload": {"source": "x"}}',
     "$.payload.summary: summary is required"),
])
def test_invalid_events_get_pagerdutys_400(
    warden_tls: RunningWarden, tls_files: tuple[Path, Path], sqlite_url: str,
    path: str, body: bytes, error: str,
) -> None:
    with httpx.Client(base_url=warden_tls.url, verify=str(tls_files[0])) as api:
        answer = api.post(path, content=body)
    assert answer.status_code == 400
    assert answer.json()["status"] == "invalid event"
    assert answer.json()["message"] == "Event object is invalid"
    assert answer.json()["errors"][0].startswith(error)
    assert stored(sqlite_url) == (0, 0)


def test_the_client_sees_refused_credentials(tls_files: tuple[Path, Path],
                                             sqlite_url: str) -> None:
    running = start_warden(Settings(database_url=sqlite_url, worker_enabled=False,
                                    source_tokens="changes-pagerduty:t0ken"), tls=tls_files)
    try:
        with events_client(running, tls_files) as client:
            with pytest.raises(pagerduty.HttpError) as refused:
                client.submit("Deploy v1", source="svc", timestamp=NOW)
            assert refused.value.response.status_code == 401
            assert refused.value.response.json()["status"] == "unauthorized"
            client.headers["Authorization"] = "Bearer t0ken"
            client.submit("Deploy v1", source="svc", timestamp=NOW)
        assert stored(sqlite_url) == (1, 1)
    finally:
        running.stop()
