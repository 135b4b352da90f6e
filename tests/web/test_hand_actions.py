"""Acknowledging and resolving by hand over the JSON API (bearer tokens), and searching
the incident list: a real Warden on a real port, answers read as a client reads them and
the audit trail read from the post-mortem, as an operator would."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import RunningWarden
from tests.web.conftest import post_alert

TOKENS = {"alice": "tok-alice-7Hq2", "vic": "tok-vic-3Lm8"}


@pytest.fixture
def running(warden_server: Callable[..., RunningWarden]) -> RunningWarden:
    return warden_server(api_tokens="alice:tok-alice-7Hq2,vic:tok-vic-3Lm8:viewer")


def _as(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[user]}"}


def test_acknowledge_then_resolve_is_recorded_with_who(running: RunningWarden) -> None:
    incident_id = post_alert(running, {"service": "search-api", "title": "p99 above 2s"})
    with running.client() as client:
        acked = client.post(f"/v1/incidents/{incident_id}/acknowledge", headers=_as("alice"))
        assert acked.status_code == 200, acked.text
        assert acked.json()["acknowledged_by"] == "alice"
        assert acked.json()["status"] == "open"
        first_at = acked.json()["acknowledged_at"]

        # Again: the first acknowledgement stays, nothing more is recorded.
        again = client.post(f"/v1/incidents/{incident_id}/acknowledge", headers=_as("alice"))
        assert again.status_code == 200 and again.json()["acknowledged_at"] == first_at

        done = client.post(f"/v1/incidents/{incident_id}/resolve", headers=_as("alice"))
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "resolved" and done.json()["resolved_at"]

        twice = client.post(f"/v1/incidents/{incident_id}/resolve", headers=_as("alice"))
        assert twice.status_code == 409 and "resolved already" in twice.json()["detail"]

        body = client.get(f"/v1/incidents/{incident_id}", headers=_as("vic")).json()
        assert (body["status"], body["acknowledged_by"]) == ("resolved", "alice")
        listed = client.get("/v1/incidents", params={"status": "resolved"},
                            headers=_as("vic")).json()
        assert [i["acknowledged_by"] for i in listed["items"]] == ["alice"]

        report = client.get(f"/v1/incidents/{incident_id}/report", headers=_as("vic")).text
    timeline = [line for line in report.splitlines() if "| alice |" in line]
    assert [line.split("|")[3].strip() for line in timeline] == [
        "incident.acknowledged", "incident.resolved"]
    assert "| Acknowledged | by alice at" in report


def test_a_resolved_incident_cannot_be_acknowledged(running: RunningWarden) -> None:
    incident_id = post_alert(running, {"service": "search-api", "title": "p99 above 2s"})
    with running.client(headers=_as("alice")) as client:
        assert client.post(f"/v1/incidents/{incident_id}/resolve").status_code == 200
        late = client.post(f"/v1/incidents/{incident_id}/acknowledge")
        assert late.status_code == 409
        assert client.get(f"/v1/incidents/{incident_id}").json()["acknowledged_by"] is None


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_hand_actions_need_an_approver_token(running: RunningWarden, action: str) -> None:
    incident_id = post_alert(running, {"service": "search-api", "title": "p99 above 2s"})
    with running.client() as client:
        assert client.post(f"/v1/incidents/{incident_id}/{action}").status_code == 401
        viewer = client.post(f"/v1/incidents/{incident_id}/{action}", headers=_as("vic"))
        assert viewer.status_code == 403 and "viewer" in viewer.json()["detail"]
        missing = client.post(f"/v1/incidents/999/{action}", headers=_as("alice"))
        assert missing.status_code == 404
        body = client.get(f"/v1/incidents/{incident_id}", headers=_as("vic")).json()
    assert (body["status"], body["acknowledged_by"]) == ("open", None)  # nothing changed


def test_a_form_post_is_refused_with_415(running: RunningWarden) -> None:
    incident_id = post_alert(running, {"service": "search-api", "title": "p99 above 2s"})
    with running.client(headers=_as("alice")) as client:
        form = client.post(f"/v1/incidents/{incident_id}/resolve", data={"x": "1"})
        assert form.status_code == 415
        assert client.get(f"/v1/incidents/{incident_id}").json()["status"] == "open"


def test_search_finds_service_or_title_words_case_insensitively(
    running: RunningWarden,
) -> None:
    for service, title in [("checkout-web", "Redis cache out of memory"),
                           ("search-api", "p99 latency above 2s"),
                           ("Checkout-Worker", "queue backlog 100%"),
                           ("billing", "disk 95_percent full")]:
        post_alert(running, {"service": service, "title": title})

    def titles(**params: str | int) -> list[str]:
        with running.client(headers=_as("vic")) as client:
            answer = client.get("/v1/incidents", params=params)
        assert answer.status_code == 200, answer.text
        return [item["title"] for item in answer.json()["items"]]

    assert titles(q="CHECKOUT") == ["queue backlog 100%", "Redis cache out of memory"]
    assert titles(q="redis MEMORY") == ["Redis cache out of memory"]
    assert titles(q="latency checkout") == []
    # "%" and "_" are searched for as themselves, not as wildcards.
    assert titles(q="100%") == ["queue backlog 100%"]
    assert titles(q="5_p") == ["disk 95_percent full"]
    assert titles(q="o_t") == []
    # Paging: total counts every match, offset/limit choose the page.
    with running.client(headers=_as("vic")) as client:
        page = client.get("/v1/incidents", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 4 and [i["title"] for i in page["items"]] == [
        "queue backlog 100%"]
