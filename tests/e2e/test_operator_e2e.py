"""What operators do around approvals: hear about blocked actions, reload the policy, and
use the command line on the host (approve, reject, incidents, report)."""

from __future__ import annotations

from typer.testing import CliRunner

from tests.e2e.stack import TOKENS, Stack, clear_cache, stack
from tests.fakes.llm_server import proposal
from warden.cli.main import app as cli

__all__ = ["stack"]  # the fixture


def cli_env(stack: Stack) -> dict[str, str]:
    return {"WARDEN_DATABASE_URL": stack.database_url, "WARDEN_POLICY": str(stack.policy_file)}


def test_a_blocked_action_is_never_silent(stack: Stack) -> None:
    running = stack.start()
    raw = proposal(action="drop_database", service="checkout-web")
    incident_id = stack.alert(running, "checkout-web", "blk-1", raw)
    done = stack.settled(running, incident_id, lambda i: i["decision"] is not None)
    assert done["decision"]["outcome"] == "blocked"
    running.wait_for(lambda: bool(stack.notices(incident_id)))
    [notice] = stack.notices(incident_id)
    assert "drop_database is blocked" in notice["text"]
    assert "action_not_allowed" in notice["text"]
    assert notice["incident"]["url"] == f"http://warden.test/incidents/{incident_id}"
    assert notice["incident"]["api_url"] == f"http://warden.test/v1/incidents/{incident_id}"
    assert stack.target.requests("/cache/checkout-web/clear") == []


def test_policy_reload_refuses_a_bad_file_and_keeps_the_old_policy(stack: Stack) -> None:
    running = stack.start()
    good = stack.policy_file.read_text()
    stack.policy_file.write_text(good.replace("critical_quorum: 2", "critical_quorum: two"))
    with running.client() as client:
        assert client.post("/v1/policy/reload").status_code == 401
        refused = client.post("/v1/policy/reload",
                              headers={"Authorization": f"Bearer {TOKENS['alice']}"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["key"] == "approvers.critical_quorum"
    # The old policy is still in force: the critical service still needs two approvers.
    incident_id = stack.alert(running, "payment-gateway", "rl-1", clear_cache("payment-gateway"))
    stack.settled(running, incident_id, lambda i: i["approval_state"] == "pending")
    assert stack.verdict(running, incident_id, "alice").json()["needed"] == 2

    stack.policy_file.write_text(good.replace("critical_quorum: 2", "critical_quorum: 1"))
    with running.client() as client:
        reloaded = client.post("/v1/policy/reload",
                               headers={"Authorization": f"Bearer {TOKENS['carol']}"})
    assert reloaded.status_code == 200 and reloaded.json()["mode"] == "live"
    assert running.warden.policy.current.critical_quorum == 1


def test_approve_and_reject_from_the_command_line(stack: Stack) -> None:
    running = stack.start()
    runner = CliRunner()
    env = cli_env(stack)
    approved = stack.alert(running, "payment-gateway", "cli-1", clear_cache("payment-gateway"))
    rejected = stack.alert(running, "payment-gateway", "cli-2", clear_cache("payment-gateway"))
    for incident_id in (approved, rejected):
        stack.settled(running, incident_id, lambda i: i["approval_state"] == "pending")

    refused = runner.invoke(cli, ["approve", str(approved), "--as", "bob"], env=env)
    assert refused.exit_code == 1 and "not an approver" in refused.output
    first = runner.invoke(cli, ["approve", str(approved), "--as", "alice", "--reason", "ok"],
                          env=env)
    assert first.exit_code == 0 and "1 of 2 approvals" in first.output
    second = runner.invoke(cli, ["approve", str(approved), "--as", "carol"], env=env)
    assert second.exit_code == 0 and "approved by alice, carol" in second.output
    running.warden.wake_worker()
    done = stack.settled(running, approved, lambda i: len(i["executions"]) == 1)
    assert done["executions"][0]["status"] == "succeeded"
    assert [a["channel"] for a in done["approvals"]] == ["cli", "cli"]

    no_reason = runner.invoke(cli, ["reject", str(rejected), "--as", "carol", "--reason", " "],
                              env=env)
    assert no_reason.exit_code == 2
    no = runner.invoke(cli, ["reject", str(rejected), "--as", "carol", "--reason", "freeze"],
                       env=env)
    assert no.exit_code == 0 and "rejected" in no.output
    assert runner.invoke(cli, ["approve", str(rejected), "--as", "alice"], env=env).exit_code == 1

    listing = runner.invoke(cli, ["incidents", "--service", "payment-gateway"], env=env)
    assert listing.exit_code == 0, listing.output
    assert "rejected" in listing.output and "approved" in listing.output

    report = runner.invoke(cli, ["report", str(approved)], env=env)
    assert report.exit_code == 0
    assert report.output.startswith(f"# Incident #{approved}: Cache memory at 97%")
    assert "| cli |" in report.output
    missing = runner.invoke(cli, ["report", "9999"], env=env)
    assert missing.exit_code == 1 and "no incident 9999" in missing.output
