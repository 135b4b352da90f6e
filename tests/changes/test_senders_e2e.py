"""Change events over real HTTP: the three senders, their auth, redelivery, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.changes.conftest import github_signature, sample, stored
from tests.conftest import RunningWarden

GITHUB_SECRET = "gh-webhook-secret"
GITHUB_OK = sample("github-deployment-status-success.json")
JSON = {"content-type": "application/json"}


def github_headers(body: bytes, *, event: str = "deployment_status",
                   secret: str = GITHUB_SECRET) -> dict[str, str]:
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab",
            "X-Hub-Signature-256": github_signature(body, secret),
            "content-type": "application/json"}


def only_change(running: RunningWarden) -> dict[str, Any]:
    with running.client() as client:
        listing = client.get("/v1/changes").json()
    assert listing["total"] == 1, listing
    item: dict[str, Any] = listing["items"][0]
    return item


def test_generic_change_is_stored_and_listed(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    with running.client() as client:
        answer = client.post("/v1/changes/generic", content=sample("generic-deploy.json"),
                             headers=JSON)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"change_id": 1, "duplicate": False}
    assert only_change(running) == {
        "id": 1, "service": "checkout-web", "version": "v2.4.1", "kind": "deploy",
        "summary": "Deploy v2.4.1: move cart totals to the pricing service",
        "at": "2026-12-01T09:58:00+00:00", "source": "generic", "author": "ci-bot",
        "link": "https://ci.example.com/pipelines/8812",
    }


def test_generic_defaults_to_a_deploy_now(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    with running.client() as client:
        assert client.post("/v1/changes/generic",
                           json={"service": "search", "kind": "FLAG"}).status_code == 202
        assert client.post("/v1/changes/generic",
                           json={"service": "search", "version": "v9.0.0"}).status_code == 202
        items = client.get("/v1/changes").json()["items"]
    assert [(i["kind"], i["version"]) for i in items] == [("deploy", "v9.0.0"), ("flag", None)]
    assert all(i["at"] and i["summary"] == "" and i["author"] is None for i in items)


def test_pagerduty_change_event(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    with running.client() as client:
        answer = client.post("/v1/changes/pagerduty", content=sample("pagerduty-change.json"),
                             headers=JSON)
    assert answer.status_code == 202, answer.text
    assert only_change(running) == {
        "id": 1, "service": "Snapshots", "version": "v1.9.0", "kind": "deploy",
        "summary": "Build success: raise the snapshot timeout to 30 seconds",
        "at": "2026-12-01T09:40:12.315000+00:00", "source": "pagerduty", "author": None,
        "link": "https://ci.example.com/build/412",
    }


@pytest.mark.parametrize(("details", "routing", "service"), [
    ({"service": "from-details"}, "R0UT1NGKEY0000000000000000000001:mapped", "from-details"),
    ({}, "R0UT1NGKEY0000000000000000000001:mapped", "mapped"),
    ({}, "", "build-pipeline-runner-7"),
])
def test_pagerduty_service_is_details_then_routing_key_then_source(
    warden_server: Any, details: dict[str, str], routing: str, service: str,
) -> None:
    running: RunningWarden = warden_server(worker_enabled=False,
                                           pagerduty_routing_keys=routing)
    body = json.loads(sample("pagerduty-change.json"))
    body["payload"]["custom_details"] = details
    with running.client() as client:
        assert client.post("/v1/changes/pagerduty", json=body).status_code == 202
    assert only_change(running)["service"] == service


def test_github_successful_deployment_is_a_deploy(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False,
                                           github_webhook_secret=GITHUB_SECRET)
    with running.client() as client:
        answer = client.post("/v1/changes/github", content=GITHUB_OK,
                             headers=github_headers(GITHUB_OK))
    assert answer.status_code == 202, answer.text
    assert answer.json()["duplicate"] is False
    assert only_change(running) == {
        "id": 1, "service": "billing-api", "version": "v3.2.0", "kind": "deploy",
        "summary": "deployed v3.2.0 (3f1c2a9d8e7b) to production: "
                   "Deployed by the release workflow",
        "at": "2026-12-01T10:05:30+00:00", "source": "github", "author": "release-bot",
        "link": "https://github.com/example-org/billing-api/actions/runs/555",
    }


def test_github_payload_names_service_and_version(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    body = json.loads(GITHUB_OK)
    body["deployment"]["payload"] = {"service": "billing-worker", "version": "v3.2.0-w"}
    raw = json.dumps(body).encode()
    with running.client() as client:
        assert client.post("/v1/changes/github", content=raw,
                           headers=github_headers(raw)).status_code == 202
    change = only_change(running)
    assert (change["service"], change["version"]) == ("billing-worker", "v3.2.0-w")


@pytest.mark.parametrize("signature", [
    github_signature(GITHUB_OK, "not-the-secret"),
    github_signature(GITHUB_OK + b" ", GITHUB_SECRET),
    "sha256=" + "0" * 64,
    None,
])
def test_github_forged_or_missing_signature_is_refused(
    warden_server: Any, sqlite_url: str, signature: str | None,
) -> None:
    running: RunningWarden = warden_server(worker_enabled=False,
                                           github_webhook_secret=GITHUB_SECRET)
    headers = github_headers(GITHUB_OK)
    if signature is None:
        del headers["X-Hub-Signature-256"]
    else:
        headers["X-Hub-Signature-256"] = signature
    with running.client() as client:
        answer = client.post("/v1/changes/github", content=GITHUB_OK, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "AuthError"
    assert "X-Hub-Signature-256" in answer.json()["detail"]
    assert stored(sqlite_url) == (0, 0)


@pytest.mark.parametrize(("event", "body", "why"), [
    ("ping", b'{"zen": "Design for failure.", "hook_id": 1}', "ping event"),
    ("deployment_status", sample("github-deployment-status-in-progress.json"),
     "'in_progress'"),
    ("push", b'{"ref": "refs/heads/main"}', "push event"),
])
def test_github_other_events_and_states_are_acknowledged_and_ignored(
    warden_server: Any, sqlite_url: str, event: str, body: bytes, why: str,
) -> None:
    running: RunningWarden = warden_server(worker_enabled=False,
                                           github_webhook_secret=GITHUB_SECRET)
    with running.client() as client:
        answer = client.post("/v1/changes/github", content=body,
                             headers=github_headers(body, event=event))
    assert answer.status_code == 202, answer.text
    assert answer.json()["change_id"] is None and why in answer.json()["ignored"]
    assert stored(sqlite_url) == (0, 0)


def test_github_form_encoded_deliveries_are_refused(warden_server: Any, sqlite_url: str) -> None:
    """GitHub's default content type is form-encoded: the webhook's first ping says so."""
    running: RunningWarden = warden_server(worker_enabled=False)
    body = b"payload=%7B%22zen%22%3A%22Keep+it+logically+awesome.%22%7D"
    with running.client() as client:
        answer = client.post("/v1/changes/github", content=body,
                             headers={**github_headers(body, event="ping"),
                                      "content-type": "application/x-www-form-urlencoded"})
    # 415 says what to change in the webhook's settings: its content type.
    assert answer.status_code == 415 and "application/json" in answer.json()["detail"]
    assert stored(sqlite_url) == (0, 0)


def _redeliveries() -> list[tuple[str, bytes]]:
    pagerduty = json.loads(sample("pagerduty-change.json"))
    del pagerduty["payload"]["timestamp"]  # identified by its content alone
    return [
        ("generic", sample("generic-deploy.json")),
        ("generic", b'{"service": "search", "version": "v1.0.0"}'),
        ("pagerduty", json.dumps(pagerduty).encode()),
        ("github", GITHUB_OK),
    ]


@pytest.mark.parametrize(("sender", "body"), _redeliveries())
def test_a_redelivery_is_stored_once(
    warden_server: Any, store_url: str, sender: str, body: bytes,
) -> None:
    running: RunningWarden = warden_server(worker_enabled=False, database_url=store_url)
    headers = github_headers(body) if sender == "github" else JSON
    with running.client() as client:
        first = client.post(f"/v1/changes/{sender}", content=body, headers=headers)
        again = client.post(f"/v1/changes/{sender}", content=body, headers=headers)
        assert client.get("/v1/changes").json()["total"] == 1
    assert first.status_code == again.status_code == 202
    assert first.json()["duplicate"] is False
    assert again.json() == {"change_id": first.json()["change_id"], "duplicate": True}
    assert stored(store_url) == (1, 1)


def test_the_same_id_with_other_content_is_the_same_change(warden_server: Any) -> None:
    """The sender's id is its idempotency key: a retry that re-renders its body (a new
    summary) is still one change."""
    running: RunningWarden = warden_server(worker_enabled=False)
    with running.client() as client:
        one = client.post("/v1/changes/generic", json={"service": "a", "id": "run-1"})
        two = client.post("/v1/changes/generic",
                          json={"service": "a", "id": "run-1", "summary": "retry"})
    assert two.json() == {"change_id": one.json()["change_id"], "duplicate": True}


@pytest.mark.parametrize(("sender", "body", "status", "where", "detail"), [
    ("generic", b"{not json", 400, "$", "malformed JSON"),
    ("generic", b"[]", 422, "$", "must be a JSON object"),
    ("generic", b'{"version": "v1"}', 422, "$.service", "service is required"),
    ("generic", b'{"service": " "}', 422, "$.service", "must not be empty"),
    ("generic", b'{"service": "a", "verison": "v1"}', 422, "$.verison", "unknown field"),
    ("generic", b'{"service": "a", "kind": "rollout"}', 422, "$.kind", "kind must be one of"),
    ("generic", b'{"service": "a", "at": "yesterday"}', 422, "$.at", "not an ISO 8601"),
    ("generic", b'{"service": "a", "version": 3}', 422, "$.version", "must be a string"),
    ("generic", b'{"service": "a", "link": "javascript:alert(1)"}', 422, "$.link",
     "http:// or https://"),
    ("generic", json.dumps({"service": "s" * 256}).encode(), 422, "$.service",
     "longer than 255"),
    ("pagerduty", b'{"payload": {"summary": "x", "source": "y"}}', 422, "$.routing_key",
     "routing_key is required"),
    ("pagerduty", b'{"routing_key": "k", "payload": {"source": "y"}}', 422,
     "$.payload.summary", "summary is required"),
    ("pagerduty", b'{"routing_key": "k", "payload": {"summary": "x"}}', 422,
     "$.payload.source", "no service"),
    ("pagerduty", b'{"routing_key": "k", "payload": {"summary": "x", "source": "y"}, '
                  b'"links": {"href": "https://a"}}', 422, "$.links", "must be an array"),
    ("github", b'{"deployment_status": {"state": "success"}}', 422, "$.deployment",
     "deployment is required"),
])
def test_bad_bodies_get_a_clear_4xx_and_store_nothing(
    warden_server: Any, sqlite_url: str, sender: str, body: bytes, status: int, where: str,
    detail: str,
) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    headers = github_headers(body) if sender == "github" else JSON
    with running.client() as client:
        answer = client.post(f"/v1/changes/{sender}", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["where"] == where
    assert detail in answer.json()["detail"]
    assert answer.json()["error"] in ("PayloadError", "MalformedJSONError")
    assert stored(sqlite_url) == (0, 0)


def test_size_limit_unknown_sender_and_credentials(warden_server: Any, sqlite_url: str) -> None:
    running: RunningWarden = warden_server(
        worker_enabled=False, max_body_bytes=200, source_tokens="changes-generic:ci-token")
    deploy = {"service": "search", "version": "v1.2.3"}
    with running.client() as client:
        too_big = client.post("/v1/changes/generic",
                              json={**deploy, "summary": "x" * 300},
                              headers={"Authorization": "Bearer ci-token"})
        unknown = client.post("/v1/changes/jenkins", json=deploy)
        no_token = client.post("/v1/changes/generic", json=deploy)
        wrong = client.post("/v1/changes/generic", json=deploy,
                            headers={"Authorization": "Bearer nope"})
        assert stored(sqlite_url) == (0, 0)
        right = client.post("/v1/changes/generic", json=deploy,
                            headers={"Authorization": "Bearer ci-token"})
    assert too_big.status_code == 413 and too_big.json()["error"] == "PayloadTooLarge"
    assert unknown.status_code == 404 and "known: generic, github, pagerduty" in (
        unknown.json()["detail"])
    assert no_token.status_code == wrong.status_code == 401
    assert right.status_code == 202
    assert stored(sqlite_url) == (1, 1)
