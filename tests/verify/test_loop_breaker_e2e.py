"""Verify and the loop breaker over real HTTP: a failed health check, a re-alert within
the cooldown, and a human lifting the freeze."""

from __future__ import annotations

import time

from click.testing import Result
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from tests.e2e.stack import TOKENS, Stack, clear_cache, stack
from tests.fakes.llm_server import proposal
from warden.cli.main import app as cli
from warden.store import FreezeRow

__all__ = ["stack"]  # the fixture


def restart(service: str) -> str:
    return proposal(category="connectivity", action="restart_canary", service=service)


def frozen(stack: Stack) -> dict[str, str]:
    engine = create_engine(stack.database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(FreezeRow.service, FreezeRow.reason)).all()
    engine.dispose()
    return {service: reason for service, reason in rows}


def test_a_passing_check_is_recorded(stack: Stack) -> None:
    running = stack.start()
    incident_id = stack.alert(running, "search-api", "ok-1", restart("search-api"))
    done = stack.settled(running, incident_id,
                         lambda i: bool(i["executions"]) and i["executions"][0]["verification"])
    verification = done["executions"][0]["verification"]
    assert verification["status"] == "passed" and verification["ok"] is True
    assert len(stack.target.requests("/health/search-api")) == 1
    assert frozen(stack) == {}


def test_a_failed_check_opens_an_incident_and_freezes_until_a_human_lifts_it(
    stack: Stack,
) -> None:
    stack.target.respond("/health/search-api", 503)
    running = stack.start()
    incident_id = stack.alert(running, "search-api", "bad-1", restart("search-api"))
    done = stack.settled(running, incident_id,
                         lambda i: bool(i["executions"]) and i["executions"][0]["verification"])
    [execution] = done["executions"]
    assert execution["status"] == "succeeded"
    assert execution["verification"]["status"] == "failed"
    assert "503" in execution["verification"]["detail"]
    assert "search-api" in frozen(stack)

    # The failed fix is an incident of its own, linked to the one that caused it.
    with running.reader() as client:
        items = client.get("/v1/incidents", params={"service": "search-api"}).json()["items"]
    [follow_up] = [i for i in items if i["id"] != incident_id]
    assert follow_up["source"] == "warden"
    assert follow_up["caused_by_incident_id"] == incident_id
    detail = stack.incident(running, follow_up["id"])
    assert detail["alerts"][0]["labels"]["caused_by_incident"] == str(incident_id)
    running.wait_for(lambda: any(n["kind"] == "verify.failed"
                                 for n in stack.notices(incident_id)))

    # While frozen, the same action waits for a human instead of running by itself.
    again = stack.alert(running, "search-api", "bad-2", restart("search-api"))
    waiting = stack.settled(running, again, lambda i: i["approval_state"] == "pending")
    assert waiting["decision"]["reasons"][0]["code"] == "loop_breaker"
    assert len(stack.target.requests("/restart/search-api")) == 1

    # Lifting the freeze: only an admin token of an approver of the tier may (through the
    # API, as the token's owner); it is audited.
    runner = CliRunner()

    def unfreeze(user: str) -> Result:
        return runner.invoke(cli, ["unfreeze", "search-api"],
                             env={"WARDEN_URL": running.url, "WARDEN_TOKEN": TOKENS[user]})

    for approver in ("mallory", "alice"):  # approver tokens, not admin ones
        refused = unfreeze(approver)
        assert refused.exit_code == 1 and "403" in refused.output and "admin" in refused.output
    assert "search-api" in frozen(stack)
    lifted = unfreeze("bob")
    assert lifted.exit_code == 0, lifted.output
    assert "unfrozen by bob" in lifted.output
    assert frozen(stack) == {}
    again_lifted = unfreeze("bob")
    assert again_lifted.exit_code == 1 and "not frozen" in again_lifted.output
    with running.reader() as client:
        report = client.get(f"/v1/incidents/{incident_id}/report").text
    assert "loop_breaker.lifted" in report and "## What went wrong" in report
    assert f"Incident #{follow_up['id']} was opened because of this one" in report


def test_alerting_again_within_the_cooldown_freezes_the_service(stack: Stack) -> None:
    running = stack.start()
    first = stack.alert(running, "inventory-sync", "re-1", clear_cache("inventory-sync"))
    stack.settled(running, first, lambda i: len(i["executions"]) == 1)
    # A new incident on the same service, minutes inside the 30-minute cooldown.
    second = stack.alert(running, "inventory-sync", "re-2", clear_cache("inventory-sync"))
    waiting = stack.settled(running, second, lambda i: i["approval_state"] == "pending")
    assert waiting["decision"]["reasons"][0]["code"] == "loop_breaker"
    reason = frozen(stack)["inventory-sync"]
    assert f"incident #{second}" in reason and f"incident #{first}" in reason
    running.wait_for(lambda: bool(stack.notices(second)))
    assert "frozen" in stack.notices(second)[-1]["text"]
    time.sleep(0.2)
    assert len(stack.target.requests("/cache/inventory-sync/clear")) == 1


def test_dry_run_records_everything_but_the_side_effect(stack: Stack) -> None:
    stack.dry_run()
    running = stack.start()
    incident_id = stack.alert(running, "search-api", "dry-1", restart("search-api"))
    done = stack.settled(running, incident_id, lambda i: len(i["executions"]) == 1)
    [execution] = done["executions"]
    assert execution["status"] == "dry_run" and execution["dry_run"] is True
    assert execution["automated"] is True
    assert execution["output"].startswith("dry run: would send POST ")
    assert execution["verification"]["status"] == "skipped"
    time.sleep(0.2)
    assert stack.target.requests("/restart/search-api") == []
    assert stack.target.requests("/health/search-api") == []
