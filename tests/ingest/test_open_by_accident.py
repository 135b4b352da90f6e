"""Nothing open by accident (issue 15, item 5, ingest part), over real HTTP: a web page
cannot post cross-site, and a credential on one source does not leave the others open."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import RunningWarden
from warden.store.tables import DeliveryRow

ALERT = json.dumps({"service": "checkout-web", "title": "Redis cache memory at 97%"}).encode()
AM_ALERT = json.dumps({"version": "4", "status": "firing", "groupKey": "{}:{service=\"checkout\"}",
                       "alerts": [{
    "status": "firing", "labels": {"alertname": "HighLatency", "service": "checkout"},
    "annotations": {"summary": "p99 over 2s"}, "startsAt": "2026-11-26T17:40:00Z"}]}).encode()
JSON = {"content-type": "application/json"}


def stored(running: RunningWarden) -> int:
    with running.warden.store.session() as session:
        return int(session.execute(select(func.count()).select_from(DeliveryRow)).scalar_one())


@pytest.mark.parametrize("content_type", [
    "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/jsonx", "",
])
def test_a_cross_site_post_is_refused_with_415_and_stores_nothing(
    warden_server: Any, content_type: str
) -> None:
    """What a web page can send without a CORS preflight (and no type at all)."""
    running: RunningWarden = warden_server(worker_enabled=False)
    headers = {"content-type": content_type} if content_type else {}
    with running.client() as client:
        answer = client.post("/v1/alerts/generic", content=ALERT, headers=headers)
    assert answer.status_code == 415, answer.text
    body = answer.json()
    assert body["error"] == "UnsupportedMediaType"
    assert "application/json" in body["detail"] and body["where"] == "Content-Type"
    assert stored(running) == 0


def test_json_with_a_charset_is_accepted(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    with running.client() as client:
        answer = client.post("/v1/alerts/generic", content=ALERT,
                             headers={"content-type": "Application/JSON; charset=utf-8"})
    assert answer.status_code == 202, answer.text
    assert stored(running) == 1


def test_approve_and_reject_take_json_only(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False, api_tokens="alice:t0ken")
    auth = {"authorization": "Bearer t0ken"}
    with running.client() as client:
        for verdict in ("approve", "reject"):
            answer = client.post(f"/v1/incidents/1/{verdict}", content=b'{"reason": "ok"}',
                                 headers={**auth, "content-type": "text/plain"})
            assert answer.status_code == 415, answer.text
            assert answer.json()["where"] == "Content-Type"
        # The JSON form reaches the route (nothing waits on incident 1: 404).
        answer = client.post("/v1/incidents/1/reject",
                             json={"reason": "no", "decision_digest": "d"}, headers=auth)
        assert answer.status_code == 404, answer.text


def test_openapi_documents_415_on_every_json_post(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    with running.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    posts = {path: item["post"] for path, item in paths.items() if "post" in item}
    assert "415" in posts["/v1/alerts/{source}"]["responses"]
    assert "415" in posts["/v1/incidents/{incident_id}/approve"]["responses"]
    assert "415" not in posts["/v1/slack/interactions"]["responses"]


def test_slack_form_posts_are_exempt(warden_server: Any) -> None:
    """Slack's interactions are form-encoded and signed: refused by the signature check
    (an ephemeral answer), not by the media type."""
    running: RunningWarden = warden_server(worker_enabled=False)
    with running.client() as client:
        answer = client.post("/v1/slack/interactions", content=b"payload=%7B%7D",
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("credentials", [
    {"source_tokens": "grafana:gr4fana-token"},
    {"source_basic_auth": "grafana:user:pass"},
    {"source_hmac_secrets": "grafana:hmac-secret"},
])
def test_an_unconfigured_source_is_refused_once_another_has_credentials(
    warden_server: Any, credentials: dict[str, str]
) -> None:
    running: RunningWarden = warden_server(worker_enabled=False, **credentials)
    with running.client() as client:
        generic = client.post("/v1/alerts/generic", content=ALERT, headers=JSON)
        alertmanager = client.post("/v1/alerts/alertmanager", content=AM_ALERT, headers=JSON)
    for answer in (generic, alertmanager):
        assert answer.status_code == 401, answer.text
        assert "WARDEN_OPEN_SOURCES" in answer.json()["detail"]
    assert stored(running) == 0


def test_open_sources_opens_only_the_sources_it_names(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False,
                                           source_tokens="grafana:gr4fana-token",
                                           open_sources="generic")
    with running.client() as client:
        generic = client.post("/v1/alerts/generic", content=ALERT, headers=JSON)
        alertmanager = client.post("/v1/alerts/alertmanager", content=AM_ALERT, headers=JSON)
    assert generic.status_code == 202, generic.text
    assert alertmanager.status_code == 401, alertmanager.text
    assert stored(running) == 1


def test_with_no_credentials_anywhere_every_source_is_open(warden_server: Any) -> None:
    """The local default is unchanged."""
    running: RunningWarden = warden_server(worker_enabled=False)
    with running.client() as client:
        answer = client.post("/v1/alerts/alertmanager", content=AM_ALERT, headers=JSON)
    assert answer.status_code == 202, answer.text
