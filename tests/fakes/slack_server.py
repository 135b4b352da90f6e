"""A fake Slack on 127.0.0.1: the Web API Warden calls, and the requests Slack sends Warden.

The server speaks Slack's wire format for what Warden uses:

- ``POST /api/chat.postMessage`` and ``POST /api/chat.update`` (JSON or form bodies, the
  bot token as ``Authorization: Bearer``), answering ``{"ok": true, "channel", "ts",
  "message": {...}}`` or ``{"ok": false, "error": "..."}`` with HTTP 200, as Slack does:
  ``not_authed``, ``invalid_auth``, ``channel_not_found``, ``no_text``, ``invalid_blocks``,
  ``message_not_found``; ``fail_next(method, error)`` scripts an error (``ratelimited``
  comes with HTTP 429 and ``Retry-After``).
- ``POST /response/{name}``: an interaction's ``response_url``, answering ``ok``.

Every request is recorded (``requests``) and every posted message kept with its updates
(``messages``). The other direction, what Slack posts to Warden, is built by
``block_actions`` (a click on a posted message's button), ``message_event`` and
``url_verification``, and signed by ``signed_headers`` with Slack's v0 scheme.

Use ``with FakeSlackServer() as slack:`` or the ``slack_server`` fixture of
tests/slack/conftest.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qs, urlencode

BOT_TOKEN = "xoxb-test-warden-bot"
TEAM_ID = "T0WARDEN"
APP_ID = "A0WARDEN"
BOT_ID = "B0WARDEN"
_MAX_BLOCKS = 50


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def method(self) -> str:
        """The Web API method (``chat.update``), or ``response_url`` for a response."""
        return self.path.removeprefix("/api/") if self.path.startswith("/api/") \
            else "response_url"


@dataclass
class PostedMessage:
    """A message as Slack holds it: the latest text and blocks, and each earlier version."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    history: list[dict[str, Any]] = field(default_factory=list)

    def as_slack_json(self) -> dict[str, Any]:
        """The message object Slack puts in events and interaction payloads."""
        return {"type": "message", "subtype": "bot_message", "text": self.text, "ts": self.ts,
                "bot_id": BOT_ID, "app_id": APP_ID, "blocks": self.blocks}

    def button(self, action_id: str) -> dict[str, Any]:
        for block in self.blocks:
            for element in block.get("elements", []):
                if element.get("action_id") == action_id:
                    return {**element, "block_id": block.get("block_id")}
        raise LookupError(f"no button {action_id!r} on message {self.ts}")

    def all_text(self) -> str:
        """Every text of the message's blocks, as a reader scans it."""
        return json.dumps(self.blocks, ensure_ascii=False)


class FakeSlackServer:
    """Slack's Web API and response URLs, on a free loopback port."""

    def __init__(self, token: str = BOT_TOKEN) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._messages: dict[tuple[str, str], PostedMessage] = {}
        self._failures: dict[str, list[str]] = {}
        self._ts = count(1)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def api_url(self) -> str:
        """What ``WARDEN_SLACK_API_URL`` is set to."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def start(self) -> FakeSlackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSlackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # What tests look at ------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, method: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method]

    @property
    def messages(self) -> list[PostedMessage]:
        """Posted messages in the order they were posted."""
        with self._lock:
            return sorted(self._messages.values(), key=lambda m: float(m.ts))

    def wait_for(self, predicate: Any, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"the fake Slack did not see it within {timeout_s} s; "
                             f"requests: {[r.method for r in self.requests]}")

    def fail_next(self, method: str, error: str) -> None:
        """The next call of ``method`` answers ``{"ok": false, "error": error}``."""
        with self._lock:
            self._failures.setdefault(method, []).append(error)

    # The Web API -------------------------------------------------------------------------

    def handle(self, request: RecordedRequest, authorization: str) -> tuple[int, Any]:
        with self._lock:
            self._requests.append(request)
            if request.method == "response_url":
                return 200, "ok"
            failures = self._failures.get(request.method)
            if failures:
                error = failures.pop(0)
                return (429 if error == "ratelimited" else 200), {"ok": False, "error": error}
            token = authorization.removeprefix("Bearer ").strip() or str(
                request.body.get("token") or "")
            if not token:
                return 200, {"ok": False, "error": "not_authed"}
            if not hmac.compare_digest(token, self.token):
                return 200, {"ok": False, "error": "invalid_auth"}
            if request.method == "chat.postMessage":
                return 200, self._post(request.body)
            if request.method == "chat.update":
                return 200, self._update(request.body)
            return 200, {"ok": False, "error": "unknown_method"}

    def _post(self, body: Mapping[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        if not isinstance(channel, str) or not channel:
            return {"ok": False, "error": "channel_not_found"}
        problem = _content_problem(body)
        if problem:
            return {"ok": False, "error": problem}
        ts = f"{1795714800 + next(self._ts)}.000100"
        message = PostedMessage(channel, ts, str(body.get("text") or ""),
                                list(_blocks(body) or []))
        self._messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message.as_slack_json()}

    def _update(self, body: Mapping[str, Any]) -> dict[str, Any]:
        message = self._messages.get((str(body.get("channel")), str(body.get("ts"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        problem = _content_problem(body)
        if problem:
            return {"ok": False, "error": problem}
        message.history.append({"text": message.text, "blocks": message.blocks})
        message.text = str(body.get("text") or "")
        blocks = _blocks(body)
        if blocks is not None:
            message.blocks = list(blocks)
        return {"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text,
                "message": message.as_slack_json()}


def _blocks(body: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    blocks = body.get("blocks")
    if isinstance(blocks, str):  # form-encoded calls send blocks as a JSON string
        blocks = json.loads(blocks)
    return blocks if isinstance(blocks, list) else None


def _content_problem(body: Mapping[str, Any]) -> str | None:
    blocks = _blocks(body)
    if not body.get("text") and not blocks:
        return "no_text"
    if blocks is not None and (len(blocks) > _MAX_BLOCKS or not all(
            isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks)):
        return "invalid_blocks"
    for block in blocks or []:
        text = block.get("text")
        if isinstance(text, dict) and len(str(text.get("text"))) > 3000:
            return "invalid_blocks"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeSlackServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            body = json.loads(raw or b"{}")
        else:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        request = RecordedRequest(self.path, dict(self.headers.items()), body)
        status, answer = self.server.fake.handle(request, self.headers.get("Authorization", ""))
        data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(answer, str)
                         else "application/json; charset=utf-8")
        if status == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# What Slack sends to Warden ----------------------------------------------------------------

def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    """Slack's signature headers for ``body``: v0 HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body,
                      hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": content_type}


def interaction_body(payload: Mapping[str, Any]) -> bytes:
    """An interaction as Slack posts it: a form with one ``payload`` field of JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def block_actions(message: PostedMessage, action_id: str, *, user_id: str,
                  response_url: str, username: str = "someone") -> dict[str, Any]:
    """The ``block_actions`` payload of ``user_id`` clicking button ``action_id`` of
    ``message`` (as sources.md lists its fields)."""
    button = message.button(action_id)
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": username, "name": username, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message.ts,
                      "channel_id": message.channel, "is_ephemeral": False},
        "trigger_id": "1795714811.123.abc",
        "team": {"id": TEAM_ID, "domain": "warden-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": message.channel, "name": "oncall"},
        "message": message.as_slack_json(),
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id,
                     "block_id": button.get("block_id"), "text": button.get("text"),
                     "value": button.get("value"), "style": button.get("style"),
                     "action_ts": "1795714812.000200"}],
    }


_event_ids: Iterator[int] = count(1)


def message_event(channel: str, text: str, *, ts: str = "1795714811.000200",
                  bot_id: str | None = None, user: str | None = "U0HUMAN",
                  app_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """An Events API ``event_callback`` carrying one ``message`` event."""
    event: dict[str, Any] = {"type": "message", "channel": channel, "text": text, "ts": ts,
                             "event_ts": ts, "channel_type": "channel", **extra}
    if bot_id is not None:
        event.update(subtype="bot_message", bot_id=bot_id)
        if app_id is not None:
            event.update(app_id=app_id, bot_profile={"id": bot_id, "app_id": app_id})
    elif user is not None:
        event["user"] = user
    return {"token": "legacy-verification-token", "team_id": TEAM_ID, "api_app_id": APP_ID,
            "event": event, "type": "event_callback", "event_id": f"Ev{next(_event_ids):08d}",
            "event_time": int(float(ts)),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0WARDENBOT", "is_bot": True}]}


def url_verification(challenge: str) -> dict[str, Any]:
    return {"token": "legacy-verification-token", "challenge": challenge,
            "type": "url_verification"}
