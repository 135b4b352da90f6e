"""``warden demo``: the scripted staging test ends as the policy requires."""

from __future__ import annotations

from typer.testing import CliRunner

from warden.cli.main import app as cli


def test_demo_runs_the_script_and_says_where_to_look() -> None:
    result = CliRunner().invoke(cli, ["demo", "--exit"])
    assert result.exit_code == 0, result.output
    assert result.output.count("[as expected]") == 5
    assert "UNEXPECTED" not in result.output
    assert "(x50 -> 50 alerts, one incident)" in result.output
    assert "The model was asked 5 time(s) for 54 alerts" in result.output
    assert "received 0 action request(s)" in result.output  # dry run
    assert "Where to look" in result.output and "warden approve 2 " in result.output
    assert "--as" not in result.output
