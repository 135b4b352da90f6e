"""``warden demo``: the scripted staging test ends as the policy requires."""

from __future__ import annotations

from typer.testing import CliRunner

from warden.cli.main import app as cli


def test_demo_runs_the_script_and_says_where_to_look() -> None:
    result = CliRunner().invoke(cli, ["demo", "--exit"])
    assert result.exit_code == 0, result.output
    assert result.output.count("[as expected]") == 7
    assert "UNEXPECTED" not in result.output
    assert "(x50 -> 50 alerts, one incident)" in result.output
    assert "The model was asked 7 time(s) for 56 alerts" in result.output
    # A deploy, a latency alert two minutes later, the rollback to the version before it
    # waiting for approval; the model's rollback to a version never run blocked.
    assert "deployed   orders-api v2.4.0" in result.output
    assert "rules      suggests rollback (version=v2.3.0)" in result.output
    assert ("Deploy v2.4.0 landed 2 min before the first alert; v2.3.0 ran before it."
            in result.output)
    assert "needs_approval: approval_required (rollback on a standard" in result.output
    assert "model      suggests rollback (version=v2.5.0)" in result.output
    assert "blocked: param_not_grounded (version='v2.5.0'" in result.output
    assert "received 0 action request(s)" in result.output  # dry run
    assert "Where to look" in result.output and "warden approve 2 " in result.output
    assert "--as" not in result.output


def test_the_demo_store_survives_for_the_follow_up_commands() -> None:
    import re
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import free_port

    port = free_port()
    result = CliRunner().invoke(cli, ["demo", "--exit", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert f"Warden  http://127.0.0.1:{port}" in result.output
    found = re.search(r"delete it with: rm -r (\S+)", result.output)
    assert found is not None, result.output
    store = Path(found.group(1))
    try:
        assert (store / "warden.db").exists()
        listed = subprocess.run(
            [str(Path(sys.executable).parent / "warden"), "--database",
             f"sqlite:///{store / 'warden.db'}", "incidents"],
            capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert "payment-gateway" in listed.stdout and "dry run" in listed.stdout
        paged = subprocess.run(
            [str(Path(sys.executable).parent / "warden"), "--database",
             f"sqlite:///{store / 'warden.db'}", "incidents", "--limit", "2", "--offset", "1"],
            capture_output=True, text=True, timeout=60)
        assert "Incidents 2-3 of 7" in paged.stdout, paged.stdout + paged.stderr
        assert "execute (dry run)" in listed.stdout  # the benign fix, not really run
    finally:
        shutil.rmtree(store)
