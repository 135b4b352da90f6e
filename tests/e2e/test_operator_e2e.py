"""What operators do around approvals: hear about blocked actions, reload the policy, and
use the command line (approve and reject through the HTTP API; incidents and report on
the host)."""

from __future__ import annotations

from click.testing import Result
from typer.testing import CliRunner

from tests.conftest import RunningWarden
from tests.e2e.stack import TOKENS, Stack, clear_cache, stack
from tests.fakes.llm_server import proposal
from warden.cli.main import app as cli

__all__ = ["stack"]  # the fixture


def cli_env(stack: Stack) -> dict[str, str]:
    return {"WARDEN_DATABASE_URL": stack.database_url, "WARDEN_POLICY": str(stack.policy_file)}


def api_env(stack: Stack, running: RunningWarden, user: str | None) -> dict[str, str]:
    """What an operator's shell holds: the server's URL and their own token (none at all
    for ``None``). The database is deliberately unreachable: the CLI goes through HTTP."""
    return {"WARDEN_URL": running.url, "WARDEN_TOKEN": TOKENS[user] if user else "",
            "WARDEN_DATABASE_URL": "sqlite:////nonexistent/dir/warden.db"}


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
        for approver_or_viewer in ("alice", "vera"):
            not_admin = client.post("/v1/policy/reload", headers={
                "Authorization": f"Bearer {TOKENS[approver_or_viewer]}"})
            assert not_admin.status_code == 403, not_admin.text
            assert "needs admin" in not_admin.json()["detail"]
        refused = client.post("/v1/policy/reload",
                              headers={"Authorization": f"Bearer {TOKENS['bob']}"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["key"] == "approvers.critical_quorum"
    # The old policy is still in force: the critical service still needs two approvers.
    incident_id = stack.alert(running, "payment-gateway", "rl-1", clear_cache("payment-gateway"))
    stack.settled(running, incident_id, lambda i: i["approval_state"] == "pending")
    assert stack.verdict(running, incident_id, "alice").json()["needed"] == 2

    stack.policy_file.write_text(good.replace("critical_quorum: 2", "critical_quorum: 1"))
    with running.client() as client:
        reloaded = client.post("/v1/policy/reload",
                               headers={"Authorization": f"Bearer {TOKENS['bob']}"})
    assert reloaded.status_code == 200 and reloaded.json()["mode"] == "live"
    assert running.warden.policy.current.critical_quorum == 1

    # The same through the command line, as the owner of WARDEN_TOKEN.
    stack.policy_file.write_text(good)
    runner = CliRunner()
    refused = runner.invoke(cli, ["policy", "reload"], env=api_env(stack, running, "alice"))
    assert refused.exit_code == 1 and "403" in refused.output and "needs admin" in refused.output
    assert running.warden.policy.current.critical_quorum == 1
    done = runner.invoke(cli, ["policy", "reload"], env=api_env(stack, running, "bob"))
    assert done.exit_code == 0 and "policy reloaded" in done.output, done.output
    assert running.warden.policy.current.critical_quorum == 2


def test_approve_and_reject_from_the_command_line(stack: Stack) -> None:
    running = stack.start()
    runner = CliRunner()
    approved = stack.alert(running, "payment-gateway", "cli-1", clear_cache("payment-gateway"))
    rejected = stack.alert(running, "payment-gateway", "cli-2", clear_cache("payment-gateway"))
    for incident_id in (approved, rejected):
        stack.settled(running, incident_id, lambda i: i["approval_state"] == "pending")
    digest = stack.incident(running, approved)["decision"]["digest"]

    def as_user(user: str | None, *args: str) -> Result:
        return runner.invoke(cli, list(args), env=api_env(stack, running, user))

    gone = as_user("alice", "approve", str(approved), "--as", "alice", "--decision", digest)
    assert gone.exit_code == 2 and "No such option: --as" in gone.output
    anonymous = as_user(None, "approve", str(approved), "--decision", digest)
    assert anonymous.exit_code == 2 and "set WARDEN_TOKEN" in anonymous.output
    wrong = runner.invoke(cli, ["approve", str(approved), "--decision", digest],
                          env={**api_env(stack, running, None), "WARDEN_TOKEN": "guess"})
    assert wrong.exit_code == 1 and "401" in wrong.output and "unknown token" in wrong.output
    unbound = as_user("alice", "approve", str(approved))
    assert unbound.exit_code == 1 and f"--decision {digest}" in unbound.output
    refused = as_user("bob", "approve", str(approved), "--decision", digest)
    assert refused.exit_code == 1 and "403" in refused.output
    assert "not an approver" in refused.output
    first = as_user("alice", "approve", str(approved), "--decision", digest, "--reason", "ok")
    assert first.exit_code == 0 and "1 of 2 approvals" in first.output, first.output
    again = as_user("alice", "approve", str(approved), "--decision", digest)
    assert again.exit_code == 0 and "1 of 2 approvals" in again.output
    second = as_user("carol", "approve", str(approved), "--decision", digest)
    assert second.exit_code == 0 and "approved by alice, carol" in second.output
    running.warden.wake_worker()
    done = stack.settled(running, approved, lambda i: len(i["executions"]) == 1)
    assert done["executions"][0]["status"] == "succeeded"
    assert [(a["approver"], a["channel"]) for a in done["approvals"]] == [
        ("alice", "cli"), ("carol", "cli")]

    other = stack.incident(running, rejected)["decision"]["digest"]
    no_reason = as_user("carol", "reject", str(rejected), "--reason", " ", "--decision", other)
    assert no_reason.exit_code == 2
    stale = as_user("carol", "reject", str(rejected), "--reason", "freeze", "--decision", digest)
    assert stale.exit_code == 1 and "409" in stale.output
    no = as_user("carol", "reject", str(rejected), "--reason", "freeze", "--decision", other)
    assert no.exit_code == 0 and "rejected" in no.output
    assert as_user("alice", "approve", str(rejected), "--decision", other).exit_code == 1

    env = cli_env(stack)
    listing = runner.invoke(cli, ["incidents", "--service", "payment-gateway"], env=env)
    assert listing.exit_code == 0, listing.output
    assert "rejected" in listing.output and "approved" in listing.output

    report = runner.invoke(cli, ["report", str(approved)], env=env)
    assert report.exit_code == 0
    assert report.output.startswith(f"# Incident #{approved}: Cache memory at 97%")
    assert "| cli |" in report.output
    missing = runner.invoke(cli, ["report", "9999"], env=env)
    assert missing.exit_code == 1 and "no incident 9999" in missing.output
