"""Console fixtures: a live-mode policy whose action hits a local target server, a Warden
serving it, sign-in helpers, and (for ``browser`` tests) Debian's chromium via Playwright.

The target server counts the requests it receives: "the action ran once" is read there,
as an operator would read their own service's access log.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningWarden

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

TOKENS = {"alice": "tok-alice-7Hq2", "dave": "tok-dave-9Zx4"}
"""alice approves standard services; dave holds a token but is no approver."""

# The rules provider suggests clear_cache for resource exhaustion that names a cache or
# memory; this policy lets clear_cache run on standard services only after approval.
POLICY = """\
version: 1
mode: live
services:
  payment-gateway: {{tier: critical}}
  "*": {{tier: standard}}
actions:
  clear_cache:
    auto_tiers: []
    approval_tiers: [standard]
    executor: {{type: http, method: POST, url: "{target}/cache/{{service}}/clear"}}
security:
  patterns: ['(?i)\\b(unauthori[sz]ed|forbidden|intrusion)\\b']
limits: {{per_service_per_hour: 3, global_per_hour: 20, cooldown_minutes: 30}}
approvers:
  standard: [alice, bob]
  critical: [alice]
  critical_quorum: 1
"""


class TargetServer:
    """An HTTP service on 127.0.0.1 that answers 200 and remembers every request path."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                with target._lock:
                    target.paths.append(self.path)
                body = b'{"cleared": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def hits(self) -> list[str]:
        with self._lock:
            return list(self.paths)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[TargetServer]:
    server = TargetServer()
    yield server
    server.close()


@pytest.fixture
def console(warden_server: Callable[..., RunningWarden], target: TargetServer,
            tmp_path: Path) -> RunningWarden:
    """A Warden in live mode with the console policy and both users' tokens."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(target=target.url), encoding="utf-8")
    return warden_server(
        policy=str(policy),
        api_tokens=",".join(f"{user}:{token}" for user, token in TOKENS.items()),
        worker_poll_s=0.05,
    )


def cache_alert(service: str = "checkout-web", *, extra_labels: int = 0,
                title: str = "Redis cache out of memory") -> dict[str, Any]:
    """A generic alert the rules provider answers with clear_cache on ``service``.

    ``extra_labels`` pads the payload so that its pretty-printed JSON needs scrolling.
    """
    labels = {"team": "storefront", "cluster": "eu-west-1"}
    labels.update({f"pod_{i:03d}": f"{service}-7d9f8c-{i:05d}" for i in range(extra_labels)})
    return {"service": service, "title": title, "severity": "high",
            "description": "Evictions are climbing; the cache is almost full.",
            "labels": labels}


def post_alert(running: RunningWarden, alert: dict[str, Any]) -> int:
    with running.client() as client:
        response = client.post("/v1/alerts/generic", json=alert)
    assert response.status_code == 202, response.text
    incident_id: int = response.json()["alerts"][0]["incident_id"]
    return incident_id


def incident_json(running: RunningWarden, incident_id: int) -> dict[str, Any]:
    with running.reader() as client:
        body: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}").json()
    return body


def wait_pending_approval(running: RunningWarden, incident_id: int) -> dict[str, Any]:
    """Wait until the worker triaged the incident into a pending approval request."""
    def pending() -> bool:
        body = incident_json(running, incident_id)
        return bool(body["decision_outcome"] == "needs_approval"
                    and body["approval_state"] == "pending")

    running.wait_for(pending, timeout_s=15)
    return incident_json(running, incident_id)


def sign_in(client: httpx.Client, token: str, *, next_path: str = "/",
            headers: dict[str, str] | None = None) -> httpx.Response:
    """Sign in through the login form as a browser would (its CSRF cookie and field)."""
    form = client.get("/login", headers=headers)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    return client.post("/login", data={"token": token, "csrf": csrf.group(1),
                                       "next": next_path}, headers=headers)


def csrf_of(page_html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page_html)
    assert found is not None and found.group(1), "no CSRF token on the page"
    return found.group(1)


def digest_of(page_html: str) -> str:
    """The decision digest the page's approval form sends."""
    found = re.search(r'name="decision_digest" value="([^"]*)"', page_html)
    assert found is not None and found.group(1), "no decision digest in the form"
    return found.group(1)


# Browser ---------------------------------------------------------------------------------

def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
