"""Health checks run after an action (the policy's optional ``executor.verify``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from warden.domain import Action
from warden.errors import ExecutorError
from warden.execute.executors import cap
from warden.execute.executors._template import values_of
from warden.execute.executors.command import render_argv, run_argv
from warden.execute.executors.http import render_url
from warden.policy import VerifySpec


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Whether the service looks healthy after the action, and the evidence."""

    ok: bool
    detail: str


class Verifier(Protocol):
    """Checks one service's health after ``action`` ran. Never raises for an unhealthy or
    unreachable service: that is a failed ``CheckResult``. Reads only."""

    def check(self, spec: VerifySpec, action: Action) -> CheckResult: ...


class HttpVerifier:
    """GET the rendered ``spec.url``; healthy when it answers ``spec.expected_status``."""

    def __init__(self, *, timeout_s: float, transport: httpx.BaseTransport | None = None):
        self.timeout_s = timeout_s
        self._transport = transport

    def check(self, spec: VerifySpec, action: Action) -> CheckResult:
        try:
            url = render_url(spec.url or "", values_of(action))
            with httpx.Client(timeout=spec.timeout_s or self.timeout_s,
                              follow_redirects=False, transport=self._transport) as client:
                response = client.get(url)
        except ExecutorError as exc:
            return CheckResult(False, f"the check cannot run: {exc}")
        except httpx.HTTPError as exc:
            return CheckResult(False, f"GET {spec.url}: {type(exc).__name__}: {exc}")
        ok = response.status_code == spec.expected_status
        return CheckResult(ok, f"GET {url} -> {response.status_code} (expected "
                               f"{spec.expected_status})\n{cap(response.content, 2048)}".rstrip())


class CommandVerifier:
    """Run the rendered ``spec.argv`` (as the ``command`` executor would); healthy when it
    exits 0 within the timeout."""

    def __init__(self, *, path: str, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s

    def check(self, spec: VerifySpec, action: Action) -> CheckResult:
        try:
            argv = render_argv(spec.argv, values_of(action))
            done = run_argv(argv, path=self.path, timeout_s=spec.timeout_s or self.timeout_s,
                            limit_bytes=4096)
        except ExecutorError as exc:
            return CheckResult(False, f"the check cannot run: {exc}")
        if done.returncode is None:
            return CheckResult(False, f"{argv[0]} did not finish in time\n{cap(done.output)}")
        return CheckResult(done.returncode == 0,
                           f"{argv[0]} exit {done.returncode}\n{cap(done.output)}".rstrip())
