"""The executors against real programs and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from tests.fakes.target import TargetServer
from warden.domain import Action, Incident, IncidentStatus
from warden.errors import ExecutorError
from warden.execute import Job
from warden.execute.executors import OUTPUT_LIMIT_BYTES
from warden.execute.executors.command import CommandExecutor
from warden.execute.executors.http import HttpExecutor
from warden.execute.executors.notify import NotifyExecutor
from warden.policy import ExecutorSpec

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PATH = "/usr/bin:/bin"
PRINT_ARGV = "import json, sys; print(json.dumps(sys.argv[1:]))"
INCIDENT = Incident(id=7, key="k", source="generic", service="checkout-web", title="t",
                    description="", severity=None, labels={}, status=IncidentStatus.OPEN,
                    alert_count=1, first_seen=NOW, last_seen=NOW)


def job(spec: ExecutorSpec, params: Mapping[str, str] | None = None, *,
        service: str = "checkout-web", dry_run: bool = False, timeout_s: float = 5) -> Job:
    return Job(incident=INCIDENT, idempotency_key="7:abc",
               action=Action("act", service, dict(params or {})), spec=spec, dry_run=dry_run,
               timeout_s=timeout_s)


def command(*argv: str) -> ExecutorSpec:
    return ExecutorSpec(type="command", argv=argv)


def argv_seen(output: str) -> list[str]:
    return list(json.loads(output.splitlines()[-1]))


# command ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "; rm -rf /", "$(touch /tmp/pwned)", "`id`", "a b  c", "'quoted' \"twice\"", "x\ny", "*",
])
def test_a_param_is_one_literal_argv_element(value: str) -> None:
    spec = command(sys.executable, "-c", PRINT_ARGV, "rollback", "{service}", "{version}")
    result = CommandExecutor(path=PATH).run(job(spec, {"version": value}))
    assert result.ok, result.output
    assert argv_seen(result.output) == ["rollback", "checkout-web", value]


def test_a_placeholder_inside_an_element_stays_inside_it() -> None:
    spec = command(sys.executable, "-c", PRINT_ARGV, "{service}-canary", "--to={version}")
    result = CommandExecutor(path=PATH).run(job(spec, {"version": "v1 ; reboot"}))
    assert argv_seen(result.output) == ["checkout-web-canary", "--to=v1 ; reboot"]


@pytest.mark.parametrize(("template", "params", "service", "problem"), [
    (("{version}",), {"version": "-rf"}, "checkout-web", "option injection"),
    (("{service}-canary",), {}, "--help", "option injection"),
    (("{version}",), {"version": "a\0b"}, "checkout-web", "NUL"),
    (("{nope}",), {}, "checkout-web", "neither the service nor a param"),
    (("{version.__class__}",), {"version": "v"}, "checkout-web", "plain"),
    (("{version!r}",), {"version": "v"}, "checkout-web", "plain"),
    (("{0}",), {}, "checkout-web", "plain"),
    # '.' and '..' walk the file system: refused whole, as a segment, and made by values.
    (("{version}",), {"version": "."}, "checkout-web", "'.' and '..' are refused"),
    (("{version}",), {"version": ".."}, "checkout-web", "'.' and '..' are refused"),
    (("{service}",), {}, "..", "'.' and '..' are refused"),
    (("/srv/{version}/bin",), {"version": ".."}, "checkout-web", "'.' and '..' are refused"),
    (("--dir={version}",), {"version": "../../etc"}, "checkout-web",
     "'.' and '..' are refused"),
    (("/srv/{version}",), {"version": "a/./b"}, "checkout-web", "'.' and '..' are refused"),
    (("{version}.",), {"version": ""}, "checkout-web", "would be '.'"),
    (("{version}{build}",), {"version": ".", "build": "."}, "checkout-web",
     "'.' and '..' are refused"),
])
def test_refused_before_anything_runs(template: Sequence[str], params: Mapping[str, str],
                                      service: str, problem: str) -> None:
    spec = command(sys.executable, "-c", PRINT_ARGV, *template)
    with pytest.raises(ExecutorError, match=problem) as raised:
        CommandExecutor(path=PATH).run(job(spec, params, service=service, dry_run=True))
    assert raised.value.recoverable is False


def test_dry_run_runs_nothing(tmp_path: object) -> None:
    spec = command("touch", "/nonexistent-dir/{service}")
    result = CommandExecutor(path=PATH).run(job(spec, dry_run=True))
    assert result.ok
    assert result.output == "dry run: would run touch /nonexistent-dir/checkout-web"


def test_exit_code_and_merged_output() -> None:
    spec = command(sys.executable, "-c",
                   "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")
    result = CommandExecutor(path=PATH).run(job(spec))
    assert not result.ok
    assert "exit 3" in result.output and "out" in result.output and "err" in result.output


def test_the_environment_holds_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_LLM_API_KEY", "sk-secret")
    spec = command(sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))")
    result = CommandExecutor(path=PATH).run(job(spec))
    env = json.loads(result.output.splitlines()[-1])
    assert "WARDEN_LLM_API_KEY" not in env
    assert env["PATH"] == PATH


def test_output_is_capped() -> None:
    spec = command(sys.executable, "-c", f"print('x' * {OUTPUT_LIMIT_BYTES * 3})")
    result = CommandExecutor(path=PATH).run(job(spec))
    assert result.ok
    assert len(result.output) < OUTPUT_LIMIT_BYTES + 500
    assert "more bytes not kept" in result.output


def test_timeout_kills_the_command() -> None:
    spec = command(sys.executable, "-c", "import time; print('started', flush=True); "
                   "time.sleep(30)")
    with pytest.raises(ExecutorError, match="killed after") as raised:
        CommandExecutor(path=PATH).run(job(spec, timeout_s=0.5))
    assert raised.value.recoverable is True
    assert "started" in str(raised.value)


def test_a_program_not_on_the_path() -> None:
    with pytest.raises(ExecutorError, match="not on the command path"):
        CommandExecutor(path="/nonexistent").run(job(command("deployctl", "rollback")))


# http ------------------------------------------------------------------------------------

def http(url: str, method: str = "POST") -> ExecutorSpec:
    return ExecutorSpec(type="http", method=method, url=url)


def test_http_posts_once_with_path_segments_encoded(target: TargetServer) -> None:
    spec = http(target.url + "/cache/{service}/clear/{key}")
    result = HttpExecutor().run(job(spec, {"key": "a/b?c=d#e %"}))
    assert result.ok, result.output
    [received] = target.requests()
    assert received.method == "POST"
    assert received.path == "/cache/checkout-web/clear/a%2Fb%3Fc%3Dd%23e%20%25"
    assert received.headers["idempotency-key"] == "7:abc"
    assert received.json() == {"incident_id": 7, "service": "checkout-web", "action": "act",
                               "params": {"key": "a/b?c=d#e %"}, "idempotency_key": "7:abc"}


def test_http_failure_status_is_not_ok(target: TargetServer) -> None:
    target.respond("/cache/checkout-web/clear", 503)
    result = HttpExecutor().run(job(http(target.url + "/cache/{service}/clear")))
    assert not result.ok
    assert "503" in result.output


def test_http_dry_run_sends_nothing(target: TargetServer) -> None:
    result = HttpExecutor().run(job(http(target.url + "/cache/{service}/clear"), dry_run=True))
    assert result.ok and result.output.startswith("dry run: would send POST ")
    assert target.requests() == []


@pytest.mark.parametrize(("url", "params", "problem"), [
    ("http://{service}/x", {}, "scheme and host must be fixed"),
    ("{scheme}://127.0.0.1/x", {"scheme": "http"}, "scheme and host must be fixed"),
    ("http://127.0.0.1:9/{key}/x", {"key": ".."}, "'.' and '..' are refused"),
    ("http://127.0.0.1:9/{key}/x", {"key": "."}, "'.' and '..' are refused"),
    ("http://127.0.0.1:9/x?to={key}", {"key": "../admin"}, "'.' and '..' are refused"),
    ("file:///etc/{service}", {}, "scheme and host must be fixed"),
    ("file://host/etc/{service}", {}, "not http"),
])
def test_http_refusals(url: str, params: Mapping[str, str], problem: str) -> None:
    with pytest.raises(ExecutorError, match=problem):
        HttpExecutor().run(job(http(url), params))


def test_http_unreachable_is_a_recoverable_error() -> None:
    with pytest.raises(ExecutorError) as raised:
        HttpExecutor().run(job(http("http://127.0.0.1:9/x"), timeout_s=2))
    assert raised.value.recoverable


# notify ----------------------------------------------------------------------------------

def test_notify_posts_json_to_the_webhook(target: TargetServer) -> None:
    notifier = NotifyExecutor(webhook_url=target.url + "/hook", timeout_s=5)
    spec = ExecutorSpec(type="notify", message="page for {service} (#{incident})")
    result = notifier.run(job(spec))
    assert result.ok
    [received] = target.requests("/hook")
    body = received.json()
    assert body["text"] == "page for checkout-web (#7)"
    assert body["incident_id"] == 7 and body["action"] == {"name": "act", "params": {}}


def test_notify_without_a_webhook_is_logged() -> None:
    result = NotifyExecutor(webhook_url=None, timeout_s=5).send({"text": "hello"})
    assert result.ok and "logged" in result.output


def test_notify_refuses_dot_segments_like_every_executor(target: TargetServer) -> None:
    notifier = NotifyExecutor(webhook_url=target.url + "/hook", timeout_s=5)
    spec = ExecutorSpec(type="notify", message="logs in /var/log/{where}")
    with pytest.raises(ExecutorError, match=r"'\.' and '\.\.' are refused") as raised:
        notifier.run(job(spec, {"where": "../../etc"}))
    assert raised.value.recoverable is False
    assert target.requests("/hook") == []
