"""Reading changes back over real HTTP: the listing, and an incident's recent changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from typer.testing import CliRunner

from tests.conftest import RunningWarden
from warden.cli.main import app as cli


def _iso(at: datetime) -> str:
    return at.isoformat()


def deploy(client: Any, service: str, version: str | None, at: datetime, **extra: Any) -> int:
    body = {"service": service, "at": _iso(at), **extra}
    if version is not None:
        body["version"] = version
    answer = client.post("/v1/changes/generic", json=body)
    assert answer.status_code == 202, answer.text
    change_id: int = answer.json()["change_id"]
    return change_id


def test_listing_is_newest_first_pages_and_filters(warden_server: Any) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    base = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with running.client() as client:
        for minute, service in enumerate(["checkout", "search", "Checkout", "CHECKOUT",
                                          "search"]):
            deploy(client, service, f"v1.0.{minute}", base + timedelta(minutes=minute))
        # Reported late: listed by when it happened, not when it arrived.
        deploy(client, "checkout", "v0.9.9", base - timedelta(hours=1))

        everything = client.get("/v1/changes").json()
        assert everything["total"] == 6
        assert [i["version"] for i in everything["items"]] == [
            "v1.0.4", "v1.0.3", "v1.0.2", "v1.0.1", "v1.0.0", "v0.9.9"]

        page = client.get("/v1/changes", params={"limit": 2, "offset": 2}).json()
        assert page["total"] == 6
        assert [i["version"] for i in page["items"]] == ["v1.0.2", "v1.0.1"]

        one_service = client.get("/v1/changes", params={"service": "cHeCkOuT"}).json()
        assert one_service["total"] == 4
        assert [i["service"] for i in one_service["items"]] == [
            "CHECKOUT", "Checkout", "checkout", "checkout"]

        since = client.get("/v1/changes", params={
            "service": "checkout", "since": "2026-12-01T09:02:00"}).json()
        assert [i["version"] for i in since["items"]] == ["v1.0.3", "v1.0.2"]

        assert client.get("/v1/changes", params={"limit": 0}).status_code == 422
        assert client.get("/v1/changes", params={"since": "soon"}).status_code == 422
        # A bare number is not a date-time here (pydantic alone would read a Unix time).
        assert client.get("/v1/changes", params={"since": "77"}).status_code == 422


def test_incident_shows_its_service_changes_before_the_first_alert(warden_server: Any) -> None:
    """Changes under any case of the service name, within the lookback, before the first
    alert; none of another service, none older than the window, none after the alert."""
    running: RunningWarden = warden_server(worker_enabled=False, change_lookback_minutes=60)
    now = datetime.now(UTC)
    with running.client() as client:
        recent = deploy(client, "Checkout-Web", "v2.4.1", now - timedelta(minutes=2),
                        author="ci-bot", link="https://ci.example.com/p/1",
                        summary="Deploy v2.4.1")
        flag = deploy(client, "checkout-web", None, now - timedelta(minutes=30), kind="flag",
                      summary="new-cart on")
        deploy(client, "checkout-web", "v2.4.0", now - timedelta(minutes=90))
        deploy(client, "search", "v7.0.0", now - timedelta(minutes=1))
        alert = client.post("/v1/alerts/generic", json={
            "service": "checkout-web", "title": "p99 latency 3s", "severity": "high"})
        assert alert.status_code == 202, alert.text
        incident_id = alert.json()["alerts"][0]["incident_id"]
        deploy(client, "checkout-web", "v2.4.2", datetime.now(UTC) + timedelta(minutes=1))

        incident = client.get(f"/v1/incidents/{incident_id}").json()
        report = client.get(f"/v1/incidents/{incident_id}/report").text
    # The post-mortem lists the same changes, their text escaped like all untrusted text.
    section = report.split("## Changes in the 60 minutes before the first alert\n")[1]
    section = section.split("\n## ")[0]
    assert "| deploy | v2.4.1 | Deploy v2.4.1 | ci-bot | https://ci.example.com/p/1 |" in (
        section)
    assert "| flag | - | new-cart on |" in section
    assert "v2.4.0" not in section and "v7.0.0" not in section and "v2.4.2" not in section
    changes = incident["changes"]
    assert [c["id"] for c in changes] == [recent, flag]
    first = changes[0]
    assert (first["service"], first["version"], first["kind"], first["author"],
            first["link"]) == ("Checkout-Web", "v2.4.1", "deploy", "ci-bot",
                               "https://ci.example.com/p/1")
    assert 1.5 <= first["minutes_before_first_alert"] <= 3
    assert changes[1]["kind"] == "flag" and changes[1]["version"] is None


def test_cli_lists_changes(warden_server: Any, sqlite_url: str) -> None:
    running: RunningWarden = warden_server(worker_enabled=False)
    with running.client() as client:
        deploy(client, "Billing", "v3.2.0", datetime(2026, 12, 1, 10, 5, tzinfo=UTC),
               author="release-bot", summary="[bold]not markup[/bold]")
        deploy(client, "search", "v7.0.0", datetime(2026, 12, 1, 10, 6, tzinfo=UTC))
    runner = CliRunner()
    env = {"WARDEN_DATABASE_URL": sqlite_url}
    listing = runner.invoke(cli, ["changes", "--service", "billing"], env=env)
    assert listing.exit_code == 0, listing.output
    assert "Changes (1 of 1)" in listing.output
    assert "2026-12-01 10:05:00" in listing.output and "v3.2.0" in listing.output
    assert "[bold]not markup[/bold]" in listing.output and "search" not in listing.output
    since = runner.invoke(cli, ["changes", "--since", "2026-12-01T10:06:00"], env=env)
    assert since.exit_code == 0 and "v7.0.0" in since.output and "v3.2.0" not in since.output
    bad = runner.invoke(cli, ["changes", "--since", "tomorrow"], env=env)
    assert bad.exit_code == 2 and "ISO 8601" in bad.output
