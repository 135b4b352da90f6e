"""Ingest over real HTTP: every acknowledged alert is stored, bad input changes nothing."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

from tests.conftest import RunningWarden, start_warden
from warden.config import Settings
from warden.store.tables import AlertRow, DeliveryRow, IncidentRow

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "samples"
FIRING = (SAMPLES / "alertmanager-0.25-firing.json").read_bytes()
RESOLVED = (SAMPLES / "alertmanager-0.25-resolved.json").read_bytes()


def counts(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        result = tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (DeliveryRow, AlertRow, IncidentRow)
        )
    engine.dispose()
    return result  # type: ignore[return-value]


def generic(service: str = "checkout-web", **extra: Any) -> dict[str, Any]:
    return {"service": service, "title": "Redis cache memory at 97%", "severity": "high",
            **extra}


def test_alertmanager_firing_then_resolved(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    with running.client() as client:
        first = client.post("/v1/alerts/alertmanager", content=FIRING,
                            headers={"content-type": "application/json"})
        assert first.status_code == 202, first.text
        body = first.json()
        assert body["accepted"] == 1 and body["duplicate"] is False
        incident_id = body["alerts"][0]["incident_id"]

        incident = client.get(f"/v1/incidents/{incident_id}").json()
        assert incident["status"] == "open"
        assert incident["service"] == "checkout"
        assert incident["alert_count"] == 1
        assert incident["alerts"][0]["labels"]["alertname"] == "HighLatency"
        assert incident["alerts"][0]["severity"] == "critical"

        resolved = client.post("/v1/alerts/alertmanager", content=RESOLVED,
                               headers={"content-type": "application/json"})
        assert resolved.status_code == 202
        assert resolved.json()["alerts"][0]["incident_id"] == incident_id
        incident = client.get(f"/v1/incidents/{incident_id}").json()
        assert incident["status"] == "resolved"
        assert incident["alert_count"] == 2


def test_duplicate_delivery_is_acknowledged_and_stored_once(warden_server: Any,
                                                            sqlite_url: str) -> None:
    running = warden_server(worker_enabled=False)
    with running.client() as client:
        json_type = {"content-type": "application/json"}
        first = client.post("/v1/alerts/alertmanager", content=FIRING, headers=json_type).json()
        again = client.post("/v1/alerts/alertmanager", content=FIRING, headers=json_type).json()
    assert again["duplicate"] is True
    assert again["alerts"][0]["alert_id"] == first["alerts"][0]["alert_id"]
    assert again["alerts"][0]["incident_id"] == first["alerts"][0]["incident_id"]
    _, alerts, incidents = counts(sqlite_url)
    assert (alerts, incidents) == (1, 1)


def test_bad_input_gets_a_clear_4xx_and_stores_nothing(warden_server: Any,
                                                       sqlite_url: str) -> None:
    running = warden_server(worker_enabled=False, max_body_bytes=2048,
                            source_tokens="generic:s3cret")
    auth = {"authorization": "Bearer s3cret", "content-type": "application/json"}
    with running.client() as client:
        cases = [
            (client.post("/v1/alerts/generic", content=b"{not json", headers=auth), 400),
            (client.post("/v1/alerts/generic", content=b"\xff\xfe{}", headers=auth), 400),
            (client.post("/v1/alerts/generic", json={"title": "no service"}, headers=auth),
             422),
            (client.post("/v1/alerts/nosuchsource", json=generic(), headers=auth), 404),
            # Slack messages only through the signed /v1/slack/events.
            (client.post("/v1/alerts/slack", json={"type": "event_callback"}, headers=auth),
             404),
            (client.post("/v1/alerts/generic", content=b"[" * 100_000 + b"]" * 100_000,
                         headers=auth), 413),
            (client.post("/v1/alerts/generic",
                         content=json.dumps(generic(description="x" * 4000)), headers=auth),
             413),
            (client.post("/v1/alerts/generic", json=generic()), 401),
            (client.post("/v1/alerts/generic", json=generic(),
                         headers={"authorization": "Bearer wrong"}), 401),
        ]
        for response, status in cases:
            assert response.status_code == status, response.text
            body = response.json()
            assert body["detail"], body
        shape = client.post("/v1/alerts/generic", json={"title": "no service"}, headers=auth)
        assert shape.json()["where"].startswith("$")
        assert counts(sqlite_url) == (0, 0, 0)
        ok = client.post("/v1/alerts/generic", json=generic(), headers=auth)
        assert ok.status_code == 202
    assert counts(sqlite_url) == (1, 1, 1)


def test_basic_auth_as_alertmanager_sends_it(warden_server: Any) -> None:
    running = warden_server(worker_enabled=False, source_basic_auth="alertmanager:am:pw")
    good = "Basic " + base64.b64encode(b"am:pw").decode()
    with running.client() as client:
        json_type = {"content-type": "application/json"}
        assert client.post("/v1/alerts/alertmanager", content=FIRING,
                           headers=json_type).status_code == 401
        assert client.post("/v1/alerts/alertmanager", content=FIRING,
                           headers={**json_type, "authorization": good}).status_code == 202


def test_fifty_concurrent_posts_of_one_fingerprint_open_one_incident(store_url: str) -> None:
    running = start_warden(Settings(database_url=store_url, worker_enabled=False))
    try:
        def post(i: int) -> httpx.Response:
            with running.client() as client:
                return client.post("/v1/alerts/generic",
                                   json=generic(labels={"attempt": str(i)}))

        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(post, range(50)))
        assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
        incident_ids = {r.json()["alerts"][0]["incident_id"] for r in responses}
        with running.client() as client:
            page = client.get("/v1/incidents").json()
    finally:
        running.stop()
    assert len(incident_ids) == 1
    assert page["total"] == 1
    assert page["items"][0]["alert_count"] == 50


def test_resolve_then_fire_again_opens_a_new_incident(warden_server: Any) -> None:
    running = warden_server(worker_enabled=False)
    with running.client() as client:
        first = client.post("/v1/alerts/generic", json=generic()).json()["alerts"][0]
        client.post("/v1/alerts/generic", json=generic(status="resolved"))
        assert client.get(f"/v1/incidents/{first['incident_id']}").json()["status"] == \
            "resolved"
        again = client.post("/v1/alerts/generic", json=generic()).json()["alerts"][0]
        assert again["incident_id"] != first["incident_id"]
        page = client.get("/v1/incidents", params={"status": "open"}).json()
    assert [i["id"] for i in page["items"]] == [again["incident_id"]]


def test_restart_keeps_every_incident(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, worker_enabled=False)
    running = start_warden(settings)
    with running.client() as client:
        ids = [client.post("/v1/alerts/generic", json=generic(service=f"svc-{i}"))
               .json()["alerts"][0]["incident_id"] for i in range(5)]
    running.stop()
    running = start_warden(settings)
    try:
        with running.client() as client:
            page = client.get("/v1/incidents").json()
    finally:
        running.stop()
    assert sorted(i["id"] for i in page["items"]) == sorted(ids)


def test_health_ready_metrics_and_openapi(warden_server: Any) -> None:
    running = warden_server(worker_enabled=False)
    with running.client() as client:
        client.post("/v1/alerts/generic", json=generic())
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["store"] == "ok"
        metrics = client.get("/metrics").text
        assert 'warden_alerts_received_total{outcome="stored",source="generic"} 1.0' in metrics
        assert ('warden_http_request_duration_seconds_count{method="POST",'
                'route="/v1/alerts/{source}",status="202"} 1.0') in metrics
        spec = client.get("/openapi.json").json()
    assert "/v1/alerts/{source}" in spec["paths"]
    assert "/v1/incidents" in spec["paths"]
