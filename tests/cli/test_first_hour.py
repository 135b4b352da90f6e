"""The first hour of a newcomer: errors in one line, reads that never create a database,
the start-up banner, ports and links, policy show/init, mistyped variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.fakes.target import TargetServer

WARDEN = str(Path(sys.executable).parent / "warden")
READ_COMMANDS = (["incidents"], ["report", "1"], ["cost"], ["audit", "verify"])


def run(*args: str, cwd: Path,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    return subprocess.run([WARDEN, *args], capture_output=True, text=True, cwd=cwd,
                          env={**clean, **(env or {})}, timeout=60)


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_read_command_refuses_a_missing_database_and_creates_none(
        tmp_path: Path, command: list[str]) -> None:
    done = run(*command, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.count("\n") <= 2 and "Traceback" not in done.stderr
    assert f"no database at {tmp_path / 'warden.db'}" in done.stderr
    assert "WARDEN_DATABASE_URL" in done.stderr  # says how to choose another
    assert list(tmp_path.iterdir()) == []


def test_a_database_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    done = run("incidents", cwd=tmp_path,
               env={"WARDEN_DATABASE_URL": "sqlite:////no/such/folder/w.db"})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "warden: no database at /no/such/folder/w.db (sqlite:////no/such/folder/w.db, from "
        "--database or WARDEN_DATABASE_URL); `warden serve` creates it on its first start"]


def test_a_database_that_does_not_answer_is_one_line_without_the_password(
        tmp_path: Path) -> None:
    url = f"postgresql+psycopg://warden:hunter2@127.0.0.1:{free_port()}/warden"
    for command in (["--database", url, "report", "1"], ["--database", url, "cost"]):
        # A server database needs the audit key from outside (see test_seal.py).
        done = run(*command, cwd=tmp_path, env={"WARDEN_AUDIT_KEY": "k" * 32})
        assert done.returncode == 1
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("warden: cannot open postgresql+psycopg://warden:***@127.0.0.1")
        assert "hunter2" not in done.stderr and "Traceback" not in done.stderr


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "warden.db").write_text("not a database\n" * 200)
    done = run("incidents", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "warden: cannot open sqlite:///./warden.db: file is not a database"]


def test_serve_says_in_one_line_when_the_database_cannot_be_opened(tmp_path: Path) -> None:
    done = run("serve", "--port", str(free_port()), cwd=tmp_path,
               env={"WARDEN_DATABASE_URL": "sqlite:////no/such/folder/w.db"})
    # The audit key is made beside the database first, so the missing folder shows there.
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3
    assert ("warden: refusing to start: cannot create the audit key file "
            "/no/such/folder/warden-audit.key: No such file or directory") in done.stderr
    assert not Path("/no/such/folder").exists()


def test_info_names_the_database_and_where_it_came_from(tmp_path: Path) -> None:
    done = run("info", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ("database   sqlite:///./warden.db (the default; set WARDEN_DATABASE_URL or "
            "--database) - does not exist yet") in done.stdout
    assert "console    http://127.0.0.1:8080/" in done.stdout
    assert not (tmp_path / "warden.db").exists()
    other = run("--database", f"sqlite:///{tmp_path}/other.db", "info", cwd=tmp_path,
                env={"WARDEN_PORT": "18601"})
    assert f"database   sqlite:///{tmp_path}/other.db (from --database" in other.stdout
    assert "console    http://127.0.0.1:18601/" in other.stdout


def test_a_mistyped_variable_is_named_with_the_nearest_setting(tmp_path: Path) -> None:
    done = run("info", cwd=tmp_path, env={"WARDEN_DATABSE_URL": "sqlite:///x.db"})
    assert ("warden: warning: WARDEN_DATABSE_URL is not a Warden setting and is ignored "
            "(did you mean WARDEN_DATABASE_URL?)") in done.stderr


def test_version_and_help_without_type_noise(tmp_path: Path) -> None:
    version = run("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("warden 0.")
    helps = run("serve", "--help", cwd=tmp_path).stdout + run("demo", "--help",
                                                             cwd=tmp_path).stdout
    assert "<bool>" not in helps
    assert "--worker / --no-worker" in helps and "--port" in helps


def test_policy_show_prints_a_policy_that_lints(tmp_path: Path) -> None:
    shown = run("policy", "show", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "mode: dry_run" in shown.stdout
    (tmp_path / "p.yaml").write_text(shown.stdout)
    linted = run("policy", "lint", "--policy", "p.yaml", cwd=tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert run("policy", "show", cwd=tmp_path,
               env={"WARDEN_POLICY": str(tmp_path / "p.yaml")}).stdout == shown.stdout


def test_policy_init_writes_a_starter_that_lints_and_never_overwrites(tmp_path: Path) -> None:
    made = run("policy", "init", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    starter = tmp_path / "warden-policy.yaml"
    assert starter.read_text().startswith("#")
    linted = run("policy", "lint", "--policy", str(starter), cwd=tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    starter.write_text("mine\n")
    again = run("policy", "init", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert starter.read_text() == "mine\n"


def test_a_yaml_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("version: 1\nmode: dry_run\nservices:\n  a: {tier: x\n")
    done = run("policy", "lint", "--policy", "bad.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "bad.yaml: line 5, column 1: expected ',' or '}'" in done.stderr
    assert "<unicode string>" not in done.stderr


# A served Warden -------------------------------------------------------------------------


@pytest.fixture
def webhook() -> Iterator[TargetServer]:
    server = TargetServer().start()
    yield server
    server.stop()


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
          ) -> tuple[subprocess.Popen[str], Path]:
    log = tmp_path / "serve.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    process = subprocess.Popen(
        [WARDEN, "serve", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
        stderr=log.open("w"), text=True,
        env={**clean, "WARDEN_DATABASE_URL": f"sqlite:///{tmp_path}/w.db", **(env or {})})
    return process, log


def ready(url: str, process: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "warden serve exited"
        try:
            response = httpx.get(f"{url}/readyz", timeout=2)
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("warden serve did not become ready")


def log_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=20)


def test_the_banner_and_links_use_the_served_port(tmp_path: Path,
                                                  webhook: TargetServer) -> None:
    port = free_port()
    process, log = serve(tmp_path, env={"WARDEN_PORT": str(port),
                                        "WARDEN_NOTIFY_WEBHOOK_URL": f"{webhook.url}/hook"})
    try:
        url = f"http://127.0.0.1:{port}"
        assert ready(url, process)["model"] == "none"  # rules: no model to verify
        events = {line["event"]: line for line in log_lines(log)}
        assert events["warden.console"]["url"] == f"{url}/"
        assert events["warden.policy"]["mode"] == "dry_run"
        assert events["warden.policy"]["source"].endswith("default_policy.yaml")
        assert events["warden.triage"]["provider"] == "rules"
        assert events["warden.database"]["url"] == f"sqlite:///{tmp_path}/w.db"
        assert events["warden.access"]["api_tokens"] == 0
        assert "warden.open_to_the_network" not in events  # loopback only
        posted = httpx.post(f"{url}/v1/alerts/generic", timeout=10, json={
            "service": "checkout-web", "title": "Something odd on the checkout page"})
        incident_id = posted.json()["alerts"][0]["incident_id"]
        webhook.wait_for(lambda: bool(webhook.requests("/hook")), timeout_s=30)
        notice = webhook.requests("/hook")[0].json()
        assert notice["incident"]["url"] == f"{url}/incidents/{incident_id}"
        assert notice["text"].endswith(f"{url}/incidents/{incident_id}")
        assert "nothing suggested" in notice["text"] and "is blocked" not in notice["text"]
        assert "(dry run" in notice["text"] and notice["mode"] == "dry_run"
        decided = httpx.get(f"{url}/v1/incidents/{incident_id}", timeout=10).json()
        assert decided["decision"]["mode"] == "dry_run"
        assert decided["decision"]["outcome"] == "blocked"  # the contract's word, unchanged
    finally:
        stop(process)


def test_a_public_url_wins_over_host_and_port(tmp_path: Path) -> None:
    done = run("info", cwd=tmp_path, env={"WARDEN_PORT": "9999",
                                          "WARDEN_PUBLIC_URL": "https://warden.example.org"})
    assert "console    https://warden.example.org/" in done.stdout


def test_serving_on_every_address_with_nothing_closed_warns_loudly(tmp_path: Path) -> None:
    port = free_port()
    process, log = serve(tmp_path, "--host", "0.0.0.0", "--port", str(port))
    try:
        ready(f"http://127.0.0.1:{port}", process)
        [loud] = [e for e in log_lines(log) if e["event"] == "warden.open_to_the_network"]
        assert loud["level"] == "warning" and loud["listen"] == "0.0.0.0"
        assert any("no API token" in part for part in loud["open"])
        assert any("without credentials" in part for part in loud["open"])
    finally:
        stop(process)


def test_a_notice_without_a_webhook_is_one_short_line(tmp_path: Path) -> None:
    port = free_port()
    process, log = serve(tmp_path, "--port", str(port))
    try:
        url = f"http://127.0.0.1:{port}"
        ready(url, process)
        httpx.post(f"{url}/v1/alerts/generic", timeout=10, json={
            "service": "checkout-web", "title": "Something odd", "description": "x" * 3000})
        deadline = time.monotonic() + 30
        while not [e for e in log_lines(log) if e["event"] == "notify.logged_only"]:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        line = next(raw for raw in log.read_text().splitlines() if "notify.logged_only" in raw)
        assert len(line) < 600
    finally:
        stop(process)


def test_invalid_settings_are_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run("incidents", cwd=tmp_path, env={"WARDEN_PORT": "eighty"})
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("warden: the settings are invalid: WARDEN_PORT: ")


def test_an_unexpected_error_is_two_lines_and_debug_shows_the_traceback(
        tmp_path: Path) -> None:
    import sqlite3

    # A database written by a newer Warden: its schema revision is unknown here.
    with sqlite3.connect(tmp_path / "warden.db") as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES ('9999')")
    done = run("incidents", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "warden: CommandError: Can't locate revision identified by '9999'",
        "warden: run with --debug for the traceback"]
    debug = run("--debug", "incidents", cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def test_log_format_console_writes_readable_lines(tmp_path: Path) -> None:
    port = free_port()
    process, log = serve(tmp_path, "--port", str(port), env={"WARDEN_LOG_FORMAT": "console"})
    try:
        ready(f"http://127.0.0.1:{port}", process)
        lines = log.read_text().splitlines()
        banner = [line for line in lines if "warden.console" in line]
        assert banner and f"http://127.0.0.1:{port}/" in banner[0]
        assert not any(line.startswith("{") for line in lines)
    finally:
        stop(process)
