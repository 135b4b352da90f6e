"""Who may read and who may change what, over real HTTP: token roles, reads closed once any
token is configured, the open health endpoints, and wrong credentials cut off at 429."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunningWarden
from tests.web.conftest import (
    POLICY,
    TOKENS,
    TargetServer,
    cache_alert,
    csrf_of,
    digest_of,
    incident_json,
    post_alert,
    sign_in,
    wait_pending_approval,
)
from warden.config import Role, Settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_roles_parse_with_approver_as_the_default() -> None:
    settings = Settings(api_tokens="vera:tv:viewer, alice:ta, root:tr:admin, odd:a:b:approver, "
                                   "colon:x:y")
    roles = {name: (entry.secret.get_secret_value(), entry.role)
             for name, entry in settings.api_tokens.items()}
    assert roles == {"vera": ("tv", Role.VIEWER), "alice": ("ta", Role.APPROVER),
                     "root": ("tr", Role.ADMIN), "odd": ("a:b", Role.APPROVER),
                     "colon": ("x:y", Role.APPROVER)}
    identity = settings.identify("tr")
    assert identity is not None and (identity.name, identity.role) == ("root", Role.ADMIN)
    assert settings.identify("nope") is None


def test_with_tokens_configured_anonymous_reads_are_refused(console: RunningWarden) -> None:
    incident_id = post_alert(console, cache_alert())
    with console.client() as anonymous:
        for path in ("/v1/incidents", f"/v1/incidents/{incident_id}",
                     f"/v1/incidents/{incident_id}/report"):
            response = anonymous.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"
            assert "token" in response.json()["detail"]
            assert "checkout-web" not in response.text
        for path in ("/", f"/incidents/{incident_id}", "/cost", "/policy",
                     "/fragments/incidents"):
            response = anonymous.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == f"/login?next={path}"
        for path in ("/healthz", "/readyz", "/metrics", "/login"):
            assert anonymous.get(path).status_code == 200, path
    with console.client(headers=bearer(TOKENS["dave"])) as reader:
        assert reader.get(f"/v1/incidents/{incident_id}").status_code == 200
        assert reader.get("/v1/incidents").json()["total"] == 1
    with console.client() as browser:
        sign_in(browser, TOKENS["dave"])
        assert browser.get("/v1/incidents").status_code == 200  # a session reads too
        assert browser.get(f"/incidents/{incident_id}").status_code == 200


def test_a_viewer_reads_but_may_not_approve_or_administer(
    warden_server: Callable[..., RunningWarden],
) -> None:
    running = warden_server(api_tokens="vera:tok-vera:viewer", worker_enabled=False)
    incident_id = post_alert(running, cache_alert())
    with running.client(headers=bearer("tok-vera")) as client:
        assert client.get(f"/v1/incidents/{incident_id}").status_code == 200
        for path, body in ((f"/v1/incidents/{incident_id}/approve",
                            {"reason": "x", "decision_digest": "0123456789abcdef"}),
                           ("/v1/policy/reload", None),
                           ("/v1/services/checkout-web/unfreeze", None)):
            refused = client.post(path, json=body)
            assert refused.status_code == 403, (path, refused.text)
            assert "'vera' holds a viewer token" in refused.json()["detail"]


@pytest.mark.parametrize("how", ["bearer", "login"])
def test_guessing_credentials_is_cut_off_with_429(
    warden_server: Callable[..., RunningWarden], how: str,
) -> None:
    running = warden_server(api_tokens="alice:tok-alice", auth_failures_per_minute=5,
                            worker_enabled=False)

    def attempt(client: object, token: str) -> int:
        if how == "bearer":
            return int(client.get("/v1/incidents",  # type: ignore[attr-defined]
                                  headers=bearer(token)).status_code)
        return sign_in(client, token).status_code  # type: ignore[arg-type]

    with running.client() as client:
        assert [attempt(client, f"guess-{i}") for i in range(5)] == [401] * 5
        # Over the limit, even the right token is refused for a while: guessing gains nothing.
        for token in ("guess-6", "tok-alice"):
            assert attempt(client, token) == 429
        refused = (client.get("/v1/incidents", headers=bearer("tok-alice")) if how == "bearer"
                   else sign_in(client, "tok-alice"))
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert "too many wrong credentials" in refused.text
        # Health checks never ask for credentials and are never cut off.
        assert client.get("/healthz").status_code == 200


def test_without_tokens_reads_stay_open(warden_server: Callable[..., RunningWarden]) -> None:
    running = warden_server(worker_enabled=False)
    incident_id = post_alert(running, cache_alert())
    with running.client() as anonymous:
        assert anonymous.get(f"/v1/incidents/{incident_id}").status_code == 200
        assert anonymous.get("/").status_code == 200
        # Changing state still needs a token, and there is none.
        assert anonymous.post("/v1/policy/reload").status_code == 401


def test_a_signed_in_viewer_cannot_approve_from_the_console(
    warden_server: Callable[..., RunningWarden], target: TargetServer, tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(target=target.url), encoding="utf-8")
    # alice is listed as an approver in the policy, but her token is only a viewer's.
    running = warden_server(policy=str(policy), api_tokens="alice:tok-alice:viewer",
                            worker_poll_s=0.05)
    incident_id = post_alert(running, cache_alert())
    wait_pending_approval(running, incident_id)
    with running.client() as client:
        sign_in(client, "tok-alice")
        page = client.get(f"/incidents/{incident_id}").text
        refused = client.post(f"/incidents/{incident_id}/decide", data={
            "verdict": "approve", "reason": "looks fine", "raw_reviewed": "1",
            "csrf": csrf_of(page), "decision_digest": digest_of(page)})
    assert refused.status_code == 403
    assert "hold a viewer token" in refused.text
    body = incident_json(running, incident_id)
    assert body["approvals"] == [] and body["approval_state"] == "pending"
    assert target.hits() == []
