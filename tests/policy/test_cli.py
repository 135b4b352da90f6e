"""``warden policy check | test | lint`` as a user runs them: a real process, real files."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .factories import PARAM_POLICY_YAML, V2_POLICY_YAML, reply

ROOT = Path(__file__).resolve().parents[2]
WARDEN = Path(sys.executable).with_name("warden")
SHARED_POLICY = ROOT.parent / "shared" / "data" / "policy.yaml"
EXAMPLE_TESTS = ROOT / "examples" / "policy-tests.yaml"
ALERT = {
    "service": "checkout-web",
    "title": "CheckoutLatencyHigh",
    "description": "p99 latency 2.4s",
    "labels": {"severity": "warning"},
}


def warden(*args: str | Path, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WARDEN), *map(str, args)],
        input=stdin.decode("utf-8", "surrogateescape"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_check_one_alert_and_one_raw_reply(tmp_path: Path) -> None:
    (tmp_path / "alert.json").write_text(json.dumps(ALERT))
    (tmp_path / "raw.txt").write_text(reply() + "\n")
    result = warden(
        "policy", "check", "--policy", SHARED_POLICY,
        "--alert", tmp_path / "alert.json", "--proposal", tmp_path / "raw.txt",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "outcome": "execute",
        "reasons": [
            {"code": "allowed", "detail": "clear_cache runs without approval on a standard service"}
        ],
        "action": {"name": "clear_cache", "service": "checkout-web", "params": {}},
    }


def test_check_reads_the_reply_as_bytes(tmp_path: Path) -> None:
    (tmp_path / "alert.json").write_text(json.dumps(ALERT))
    (tmp_path / "raw.txt").write_bytes(reply().encode().replace(b"Stale", b"St\xffale"))
    (tmp_path / "history.json").write_text('{"frozen": true}')
    result = warden(
        "policy", "check", "--policy", SHARED_POLICY, "--alert", tmp_path / "alert.json",
        "--proposal", tmp_path / "raw.txt", "--history", tmp_path / "history.json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["outcome"] == "blocked"
    assert out["reasons"][0]["code"] == "malformed_proposal"
    assert out["action"] is None


def _case(case_id: str, raw: str | None = None, **extra: Any) -> str:
    case: dict[str, Any] = {"id": case_id, "alert": ALERT, **extra}
    if raw is not None:
        case["proposal_raw"] = raw
    return json.dumps(case)


def test_check_cases_answers_each_line_in_order(tmp_path: Path) -> None:
    freeze = yaml.safe_load(PARAM_POLICY_YAML)
    freeze["freeze"] = [{"from": "2026-12-24T00:00:00Z", "to": "2026-12-27T00:00:00Z"}]
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(freeze))
    cases = [
        _case("ok", reply(), now="2026-12-23T23:59:59Z", comment="unknown keys are ignored"),
        _case("frozen", reply(), now="2026-12-24T05:00:00+05:00"),
        _case("default-now", reply()),  # --now below is inside the freeze
        _case("b64", proposal_raw_b64=base64.b64encode(b"\xff\xfe{}").decode()),
        _case("b64-good", proposal_raw_b64=base64.b64encode(reply().encode()).decode(),
              now="2026-01-01T00:00:00Z"),
        _case("surrogate", '{"category": "\\ud800"}', now="2026-01-01T00:00:00Z"),
        "",  # blank lines are skipped
        _case("history", reply(), now="2026-01-01T00:00:00Z",
              history={"service_executions_last_hour": 3, "last_automated_minutes_ago": None}),
        _case("null-history", reply(), now="2026-01-01T00:00:00Z", history=None),
    ]  # fmt: skip
    (tmp_path / "cases.jsonl").write_text("\n".join(cases) + "\n")
    result = warden(
        "policy", "check", "--policy", tmp_path / "policy.yaml",
        "--cases", tmp_path / "cases.jsonl", "--now", "2026-12-25T00:00:00Z",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    got = {o["id"]: (o["outcome"], o["reasons"][0]["code"]) for o in _lines(result.stdout)}
    assert list(got) == [
        "ok", "frozen", "default-now", "b64", "b64-good", "surrogate", "history", "null-history"
    ]  # fmt: skip
    assert got == {
        "ok": ("execute", "allowed"),
        "frozen": ("blocked", "change_freeze"),
        "default-now": ("blocked", "change_freeze"),
        "b64": ("blocked", "malformed_proposal"),
        "b64-good": ("execute", "allowed"),
        "surrogate": ("blocked", "malformed_proposal"),
        "history": ("needs_approval", "rate_limited"),
        "null-history": ("execute", "allowed"),
    }


def test_check_judges_the_incident_form_as_a_whole(tmp_path: Path) -> None:
    group = {
        "service": "checkout-web",
        "alerts": [
            {"title": "CheckoutLatencyHigh", "description": "p99 2.4s", "labels": {}},
            {"title": "DiskAlmostFull", "labels": {"severity": "warning"}},
            {"title": "Logins up", "description": "possible account takeover", "labels": {}},
        ],
    }
    (tmp_path / "incident.json").write_text(json.dumps(group))
    (tmp_path / "raw.txt").write_text(reply())
    (tmp_path / "policy.yaml").write_text(V2_POLICY_YAML)
    (tmp_path / "history.json").write_text('{"precedents": 2}')
    result = warden(
        "policy", "check", "--policy", tmp_path / "policy.yaml", "--alert",
        tmp_path / "incident.json", "--proposal", tmp_path / "raw.txt",
        "--history", tmp_path / "history.json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["outcome"] == "needs_approval"
    assert out["reasons"][0]["code"] == "security_incident"
    assert "alert 3 of 3" in out["reasons"][0]["detail"]


def test_check_cases_with_the_incident_form_and_the_second_history_keys(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(V2_POLICY_YAML)
    benign = {"service": "checkout-web", "alerts": [{"title": "CheckoutLatencyHigh"},
                                                   {"title": "CacheHitRatioLow"}]}
    rollback = reply("rollback", params={"version": "v1.4.0"})
    cases = [
        json.dumps({"id": "benign", "alert": benign, "proposal_raw": reply(),
                    "history": {"precedents": 1}}),
        json.dumps({"id": "first-time", "alert": benign, "proposal_raw": reply()}),
        json.dumps({"id": "grounded", "alert": benign, "proposal_raw": rollback,
                    "history": {"deployed_versions": ["v1.4.0", "v1.5.0"]}}),
        json.dumps({"id": "current", "alert": benign, "proposal_raw": rollback,
                    "history": {"deployed_versions": ["v1.3.0", "v1.4.0"]}}),
        json.dumps({"id": "null-versions", "alert": benign, "proposal_raw": rollback,
                    "history": {"deployed_versions": None, "precedents": None}}),
    ]
    (tmp_path / "cases.jsonl").write_text("\n".join(cases) + "\n")
    result = warden("policy", "check", "--policy", tmp_path / "policy.yaml",
                    "--cases", tmp_path / "cases.jsonl")
    assert result.returncode == 0, result.stderr
    got = {o["id"]: (o["outcome"], o["reasons"][0]["code"]) for o in _lines(result.stdout)}
    assert got == {
        "benign": ("execute", "allowed"),
        "first-time": ("needs_approval", "no_precedent"),
        "grounded": ("needs_approval", "approval_required"),
        "current": ("blocked", "param_not_grounded"),
        "null-versions": ("blocked", "param_not_grounded"),
    }


def test_check_cases_from_stdin() -> None:
    result = warden(
        "policy", "check", "--policy", SHARED_POLICY, "--cases", "-",
        stdin=(_case("a", reply(None)) + "\n").encode(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _lines(result.stdout)[0]["reasons"][0]["code"] == "no_action"


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("not json", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        (_case("no-reply"), "exactly one of proposal_raw and proposal_raw_b64"),
        (_case("both", reply(), proposal_raw_b64=""), "exactly one of"),
        (json.dumps({"id": "x", "proposal_raw": reply()}), "alert must be an object"),
        (_case("x", reply(), now="tomorrow"), "ISO-8601"),
        (_case("x", reply(), now="2026-12-25T00:00:00"), "UTC offset"),
        (_case("x", reply(), history={"frozen": "yes"}), "history.frozen"),
        (_case("x", reply(), history={"forzen": True}), "unknown history keys: forzen"),
        (_case("x", reply(), history={"service_executions_last_hour": -1}), "whole number"),
        (_case("x", proposal_raw_b64="***"), "not base64"),
        (
            json.dumps({"id": "x", "proposal_raw": reply(),
                        "alert": {"service": "checkout-web", "alerts": []}}),
            "alert.alerts must be a non-empty list",
        ),
        (
            json.dumps({"id": "x", "proposal_raw": reply(),
                        "alert": {"service": "checkout-web", "alerts": [{}, {"labels": [1]}]}}),
            "alert.alerts[1].labels must be an object of strings",
        ),
        (_case("x", reply(), history={"deployed_versions": "v1.0.0"}), "list of strings"),
        (_case("x", reply(), history={"precedents": 1.5}), "history.precedents"),
    ],
)
def test_an_unusable_case_line_exits_2_naming_its_line(bad_line: str, message: str) -> None:
    lines = [_case("first", reply()), bad_line, _case("last", reply())]
    result = warden(
        "policy", "check", "--policy", SHARED_POLICY, "--cases", "-",
        stdin="\n".join(lines).encode(),
    )  # fmt: skip
    assert result.returncode == 2
    assert "<stdin>:2:" in result.stderr
    assert message in result.stderr
    assert [o["id"] for o in _lines(result.stdout)] == ["first", "last"]


def test_an_unusable_policy_exits_2_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(PARAM_POLICY_YAML.replace("auto_tiers", "auto_tier", 1))
    (tmp_path / "cases.jsonl").write_text(_case("a", reply()) + "\n")
    result = warden(
        "policy", "check", "--policy", tmp_path / "policy.yaml", "--cases", tmp_path / "cases.jsonl"
    )
    assert result.returncode == 2
    assert "actions.clear_cache.auto_tier: unknown key" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--alert", "a.json"),
        ("--cases", "c.jsonl", "--alert", "a.json", "--proposal", "r.txt"),
    ],
)
def test_check_needs_cases_or_alert_and_proposal(args: tuple[str, ...]) -> None:
    result = warden("policy", "check", "--policy", SHARED_POLICY, *args)
    assert result.returncode == 2
    assert "give either --cases" in result.stderr


def test_policy_test_passes_the_example_tests() -> None:
    result = warden("policy", "test", "--policy", SHARED_POLICY, EXAMPLE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "7 passed, 0 failed"


def test_policy_test_shows_a_mismatch_and_exits_1(tmp_path: Path) -> None:
    tests = yaml.safe_load(EXAMPLE_TESTS.read_text())
    tests[1]["expect"] = {"outcome": "execute"}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, allow_unicode=True))
    result = warden("policy", "test", "--policy", SHARED_POLICY, tmp_path / "tests.yaml")
    assert result.returncode == 1
    assert (
        "FAIL a critical service waits for two approvers\n"
        "  - expected: execute\n"
        "  + actual:   needs_approval (approval_required)\n"
    ) in result.stdout
    assert result.stdout.splitlines()[-1] == "6 passed, 1 failed"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{}", "non-empty YAML list"),
        ("- {name: a, alert: {service: x}, proposal: {}, expect: {outcome: run}}", "expect"),
        (
            "- {name: a, alert: {service: x}, proposal: {}, expected: {outcome: blocked}}",
            "unknown keys: expected",
        ),
        (
            "- {name: a, alert: {service: 1}, proposal: {}, expect: {outcome: blocked}}",
            "alert.service",
        ),
        (
            "- {name: a, alert: {service: x}, proposal: {}, expect: {outcome: blocked}}\n"
            "- {name: a, alert: {service: x}, proposal: {}, expect: {outcome: blocked}}",
            "used twice",
        ),
    ],
)
def test_policy_test_refuses_an_unusable_tests_file(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "tests.yaml").write_text(content)
    result = warden("policy", "test", "--policy", SHARED_POLICY, tmp_path / "tests.yaml")
    assert result.returncode == 2
    assert message in result.stderr


def test_lint_passes_the_shared_policy() -> None:
    result = warden("policy", "lint", "--policy", SHARED_POLICY)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith("no problems")


def test_lint_reports_problems_and_exits_1(tmp_path: Path) -> None:
    doc = yaml.safe_load(PARAM_POLICY_YAML)
    del doc["actions"]["clear_cache"]["executor"]
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(doc))
    result = warden("policy", "lint", "--policy", tmp_path / "policy.yaml")
    assert result.returncode == 1
    assert "actions.clear_cache: has no executor, so it can never run" in result.stdout
    assert result.stdout.splitlines()[-1] == "1 problem(s)"


def test_lint_of_an_unloadable_policy_exits_2(tmp_path: Path) -> None:
    result = warden("policy", "lint", "--policy", tmp_path / "missing.yaml")
    assert result.returncode == 2
    assert "(file)" in result.stderr


@pytest.mark.parametrize("module", ["warden.cli.policy", "warden.cli.main"])
def test_the_policy_cli_path_imports_nothing_heavy(module: str) -> None:
    heavy = ["fastapi", "sqlalchemy", "httpx", "uvicorn", "openai", "alembic", "slack_sdk"]
    code = f"import sys, {module}; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
