"""Known secret values in every setting that takes one, and in an alert's text; after a
run that uses each of them (and fails each check once), none appears where it should not.

Configured secrets (model API key, approver token, source token, basic credentials, HMAC
secret, Slack signing secret, session secret) may appear nowhere: not in the server's
logs, the audit log, the post-mortem report, ``/metrics``, the incidents API, error bodies,
or what the model was sent (the API key goes in its Authorization header only).

Secrets inside an alert's text (``password=...``, an ``sk-`` key) are redacted before the
text leaves the process: the model, the notification webhook, the logs and ``/metrics``
never see them. Warden's own record of the alert keeps it verbatim, as evidence for
approvers: the stored alert (incidents API, console, report) and the audit event that
opened the incident; no other audit event repeats them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.fakes.llm_server import FakeLLMServer, Obedient
from tests.fakes.target import TargetServer
from tests.reliability.process import WardenProcess, sqlite_engine
from tests.replicas.cluster import WARDEN
from warden.store.tables import AuditRow

LLM_KEY = "sk-or-v1-llmkey0c7d2e9a4b61f5830c7d2e9a4b61f58"
API_TOKEN = "apitok-alice-5e8d2c1f9a7b3e6d"
SOURCE_TOKEN = "srctok-generic-3b7e9d1c4f2a8e5b"
BASIC_PASSWORD = "basicpw-am-6a1f8c3e9d2b7e4a"
HMAC_SECRET = "hmacsec-selzee-9d4b2e7a1c6f3e8b"
SLACK_SECRET = "slacksign-8c2f4a6e1d9b3c7a"
SESSION_SECRET = "session-2e9c4a7f1b8d3e6c5a0f"
CONFIGURED = {
    "WARDEN_LLM_API_KEY": LLM_KEY, "WARDEN_API_TOKENS": API_TOKEN,
    "WARDEN_SOURCE_TOKENS": SOURCE_TOKEN, "WARDEN_SOURCE_BASIC_AUTH": BASIC_PASSWORD,
    "WARDEN_SOURCE_HMAC_SECRETS": HMAC_SECRET, "WARDEN_SLACK_SIGNING_SECRET": SLACK_SECRET,
    "WARDEN_SESSION_SECRET": SESSION_SECRET,
}

ALERT_PASSWORD = "hunter2xyz"
ALERT_KEY = "sk-proj-Zq8vLm3RtY6wPx1KcN4bHs7dGf2JuE9a"
EMBEDDED = {"password in an alert": ALERT_PASSWORD, "sk- key in an alert": ALERT_KEY}


POLICY = """
version: 1
mode: live
services: {"*": {tier: standard}}
actions:
  notify_on_call:
    auto_tiers: [standard]
    executor: {type: notify}
security: {labels: {}, patterns: []}
limits: {per_service_per_hour: 100, global_per_hour: 1000, cooldown_minutes: 0}
approvers: {standard: [alice], critical: [alice, carol], critical_quorum: 2}
"""


@pytest.fixture
def webhook() -> Iterator[TargetServer]:
    """Where notifications go: a chat webhook outside the process."""
    server = TargetServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(tmp_path: Path, llm_server: FakeLLMServer,
           webhook: TargetServer) -> Iterator[WardenProcess]:
    # The model pages the on-call engineer when the alert asks for it (the notify action),
    # and proposes nothing otherwise (blocked: the notify step tells humans).
    llm_server.default = Obedient()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {
        "WARDEN_POLICY": str(policy), "WARDEN_NOTIFY_WEBHOOK_URL": f"{webhook.url}/hook",
        "WARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'warden.db'}",
        "WARDEN_LOG_LEVEL": "DEBUG",  # the chattiest logs are the ones to search
        "WARDEN_TRIAGE_PROVIDER": "openai", "WARDEN_LLM_BASE_URL": llm_server.base_url,
        "WARDEN_LLM_MODELS": "model-a", "WARDEN_LLM_API_KEY": LLM_KEY,
        "WARDEN_API_TOKENS": f"alice:{API_TOKEN}:admin,carol:{API_TOKEN}x",
        "WARDEN_SOURCE_TOKENS": f"generic:{SOURCE_TOKEN}",
        "WARDEN_SOURCE_BASIC_AUTH": f"alertmanager:am:{BASIC_PASSWORD}",
        "WARDEN_SOURCE_HMAC_SECRETS": f"selzee:{HMAC_SECRET}",
        "WARDEN_SLACK_SIGNING_SECRET": SLACK_SECRET, "WARDEN_SESSION_SECRET": SESSION_SECRET,
    }
    with WardenProcess(env, tmp_path / "serve.log") as running:
        yield running


def exercise(client: httpx.Client) -> tuple[int, list[str]]:
    """Use every secret once rightly and once wrongly; returns the id of the first of the
    two incidents with secrets in their text and every error body received."""
    errors: list[str] = []

    def expect(response: httpx.Response, status: int) -> httpx.Response:
        assert response.status_code == status, (response.request.url, response.text)
        if status >= 400:
            errors.append(response.text)
        return response

    alert = {"service": "checkout-web", "title": "DB login failing: password=" + ALERT_PASSWORD,
             "description": f"client used api_key={ALERT_KEY} against the API; retrying",
             "labels": {"dsn": f"postgres://app:{ALERT_PASSWORD}@db:5432/app"}}
    bearer = {"authorization": f"Bearer {SOURCE_TOKEN}",
              "content-type": "application/json"}
    posted = expect(client.post("/v1/alerts/generic", json=alert, headers=bearer), 202)
    incident_id = int(posted.json()["alerts"][0]["incident_id"])
    paging = {**alert, "title": f"{alert['title']}; run notify_on_call on checkout-web"}
    expect(client.post("/v1/alerts/generic", json=paging, headers=bearer), 202)
    expect(client.post("/v1/alerts/generic", json=alert), 401)
    expect(client.post("/v1/alerts/generic", json=alert,
                       headers={"authorization": f"Bearer {SOURCE_TOKEN}0"}), 401)
    expect(client.post("/v1/alerts/generic", content=b"{\"service\": \"x\", \"title\": ",
                       headers=bearer), 400)

    basic = base64.b64encode(f"am:{BASIC_PASSWORD}".encode()).decode()
    firing = {"version": "4", "status": "firing", "receiver": "warden", "groupKey": "{}",
              "alerts": [{"status": "firing", "labels": {"alertname": "Up", "service": "api"},
                          "annotations": {}, "startsAt": "2026-11-26T10:00:00Z",
                          "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f1"}]}
    expect(client.post("/v1/alerts/alertmanager", json=firing,
                       headers={"authorization": f"Basic {basic}"}), 202)
    wrong = base64.b64encode(f"am:{BASIC_PASSWORD}!".encode()).decode()
    expect(client.post("/v1/alerts/alertmanager", json=firing,
                       headers={"authorization": f"Basic {wrong}"}), 401)

    selzee = json.dumps({"service_id": "billing", "message": "queue stuck",
                         "timestamp": "2026-11-26T10:00:00Z"}).encode()
    stamp = str(int(time.time()))
    signature = hmac.new(HMAC_SECRET.encode(), stamp.encode() + b":" + selzee,
                         hashlib.sha256).hexdigest()
    signed = {"X-Grafana-Alerting-Signature": signature, "X-Warden-Timestamp": stamp,
              "content-type": "application/json"}
    expect(client.post("/v1/alerts/selzee", content=selzee, headers=signed), 202)
    expect(client.post("/v1/alerts/selzee", content=selzee + b" ", headers=signed), 401)

    slack_body = b"payload=%7B%7D"
    slack_stamp = str(int(time.time()))
    slack_signature = "v0=" + hmac.new(SLACK_SECRET.encode(),
                                       f"v0:{slack_stamp}:".encode() + slack_body + b"x",
                                       hashlib.sha256).hexdigest()
    response = client.post("/v1/slack/interactions", content=slack_body, headers={
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": slack_stamp, "x-slack-signature": slack_signature})
    # Slack is answered 200 with an ephemeral refusal (Slack shows only 200 answers).
    assert "signature does not match" in response.text, response.text
    errors.append(response.text)

    expect(client.post(f"/v1/incidents/{incident_id}/approve",
                       headers={"authorization": f"Bearer {API_TOKEN}0"}), 401)
    approver = {"authorization": f"Bearer {API_TOKEN}"}
    shown = expect(client.get(f"/v1/incidents/{incident_id}", headers=approver), 200).json()
    digest = (shown["decision"] or {}).get("digest") or "not-decided-yet"
    response = client.post(f"/v1/incidents/{incident_id}/approve", headers=approver,
                           json={"reason": "", "decision_digest": digest})
    assert response.status_code in (200, 409), response.text  # 409: nothing waits
    errors.append(response.text)
    expect(client.get("/v1/incidents/999999"), 401)
    expect(client.get("/v1/incidents/999999", headers=approver), 404)
    expect(client.post("/v1/policy/reload", headers=approver), 200)
    return incident_id, errors


def test_no_secret_leaks(server: WardenProcess, llm_server: FakeLLMServer,
                         webhook: TargetServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        incident_id, errors = exercise(client)
    reader = {"authorization": f"Bearer {API_TOKEN}"}  # reads need a token once any is set
    with httpx.Client(base_url=server.url, timeout=10, headers=reader) as client:

        def settled() -> bool:
            bodies = [client.get(f"/v1/incidents/{i}").json()
                      for i in (incident_id, incident_id + 1)]
            return all(b["decision"] and b["pending_step"] is None for b in bodies)

        deadline = time.monotonic() + 20
        while not settled():
            assert time.monotonic() < deadline, "the incident was never decided"
            time.sleep(0.1)
        api = {
            "/v1/incidents": client.get("/v1/incidents").text,
            "/v1/incidents/ID": client.get(f"/v1/incidents/{incident_id}").text,
            "/v1/incidents/ID/report": client.get(f"/v1/incidents/{incident_id}/report").text,
        }
        metrics = client.get("/metrics").text
        readyz = client.get("/readyz").text
    report = subprocess.run(
        [WARDEN, "report", str(incident_id)], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", **server.env}, check=True)
    engine = sqlite_engine(server.env["WARDEN_DATABASE_URL"])
    with engine.connect() as conn:
        audit_rows = [tuple(row) for row in conn.execute(
            select(AuditRow.kind, AuditRow.actor, AuditRow.data))]
    audit = json.dumps(audit_rows)
    engine.dispose()
    server.stop()  # shutdown lines are logged too
    llm_bodies = json.dumps([r.body for r in llm_server.requests])
    llm_headers = [dict(r.headers) for r in llm_server.requests]

    sinks = {
        "server log": server.stderr(), "audit log": audit, "metrics": metrics,
        "readyz": readyz, "report (CLI)": report.stdout + report.stderr,
        "error bodies": "\n".join(errors), "model request bodies": llm_bodies,
        "notifications (webhook bodies)": "\n".join(
            r.body.decode() for r in webhook.requests()),
        "model request headers (but Authorization)": json.dumps(
            [{k: v for k, v in h.items() if k != "authorization"} for h in llm_headers]),
        **api,
    }
    leaks = {f"{name} in {sink}" for name, secret in CONFIGURED.items()
             for sink, text in sinks.items() if secret in text}
    assert leaks == set()
    assert llm_server.calls() >= 1
    assert all(h["authorization"] == f"Bearer {LLM_KEY}" for h in llm_headers)

    # Redacted before it left the process: nothing of the alert's secrets reached the model,
    # a notification, a log line or a metric.
    outside = ("model request bodies", "notifications (webhook bodies)", "server log",
               "metrics", "error bodies")
    embedded = {f"{name} in {sink}" for name, secret in EMBEDDED.items()
                for sink in outside if secret in sinks[sink]}
    assert embedded == set()
    in_audit = {kind for kind, _actor, data in audit_rows for secret in EMBEDDED.values()
                if secret in json.dumps(data)}
    assert in_audit == {"incident.opened"}  # the alert's own record, nothing derived
    assert "[REDACTED:" in llm_bodies
    kinds = {r.json()["kind"] for r in webhook.requests()}
    assert {"action", "policy.decided"} <= kinds  # the page, and the notify step's notices
    print(f"\n[secrets] {len(CONFIGURED)} configured secrets and {len(EMBEDDED)} alert-embedded "
          f"secrets searched in {len(sinks)} sinks ({sum(map(len, sinks.values()))} chars): "
          f"0 leaks; model calls {llm_server.calls()}, error bodies {len(errors)}")
