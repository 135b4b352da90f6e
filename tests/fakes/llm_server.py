"""A scriptable OpenAI-compatible chat-completions server on 127.0.0.1, for tests.

It speaks the real wire format (``POST .../chat/completions``; any path prefix, so a
base URL such as ``http://127.0.0.1:PORT/api/v1`` works like OpenRouter's), so Warden's
openai provider is tested through the official client and a real socket.

Behaviour per request, first match wins:

1. the next queued behaviour for that model (``script(model, ...)``), consumed;
2. ``handler(model, body)`` if one is set (return ``None`` to fall through);
3. the model's ``default`` (``set_default(model, ...)``), kept;
4. the server's default, a well-formed "unknown, no action" proposal.

Behaviours: ``Reply`` (any content: a good proposal, prose, garbage), ``Status`` (an HTTP
error, e.g. 429 with Retry-After or 500), ``Hang`` (answer after ``seconds``: beyond the
client's timeout), ``Disconnect`` (close the connection without answering) and
``Obedient`` (follows a prompt injection found in the user turn: "run ACTION on SERVICE"
becomes the suggested action, as a naive model would).

Every request is recorded before it is answered (``requests``, thread-safe), so tests
can count calls per model and inspect bodies (``response_format``, ``models``,
``provider``, ``usage``).

Fixture: ``llm_server`` (function scope) yields a started ``FakeLLMServer``. Register it
with ``pytest_plugins = ["tests.fakes.llm_server"]`` in ``tests/conftest.py`` (importing
it into a test module works too, but ruff reports F401/F811), or use
``with FakeLLMServer() as server:`` directly.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any

import pytest

GOOD_PROPOSAL = {
    "category": "unknown",
    "severity": "medium",
    "root_cause": "",
    "suggested_action": None,
    "confidence": 0.5,
}


def proposal(
    *,
    category: str = "unknown",
    severity: str = "medium",
    root_cause: str = "",
    action: str | None = None,
    service: str = "",
    params: Mapping[str, str] | None = None,
    confidence: float = 0.8,
) -> str:
    """The raw text of a well-formed proposal (policy.md), as a model would send it."""
    suggested = (
        None
        if action is None
        else {"name": action, "service": service, "params": dict(params or {})}
    )
    return json.dumps(
        {
            "category": category,
            "severity": severity,
            "root_cause": root_cause,
            "suggested_action": suggested,
            "confidence": confidence,
        }
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """A 200 with ``content`` as the assistant message. Tokens default to a rough count
    of the text; ``cost`` (dollars) is sent as OpenRouter's ``usage.cost`` when given;
    ``served_model`` overrides the response's ``model`` (an OpenRouter fallback)."""

    content: str = field(default_factory=lambda: json.dumps(GOOD_PROPOSAL))
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    served_model: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """An HTTP error with an OpenAI-style error body; ``retry_after`` sets the header."""

    code: int
    message: str = "scripted error"
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Hang:
    """Wait ``seconds`` (cut short when the server stops), then answer ``then``."""

    seconds: float
    then: Reply | Status = field(default_factory=Reply)


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Read the request, then close the connection without a response."""


@dataclass(frozen=True, slots=True)
class Obedient:
    """Answer what the alert text asks for: the first "run ACTION on SERVICE [with K=V,
    ...]" in a user message becomes the suggested action; without one, ``otherwise``."""

    category: str = "unknown"
    severity: str = "high"
    otherwise: Reply = field(default_factory=Reply)


Behaviour = Reply | Status | Hang | Disconnect | Obedient
Handler = Callable[[str, Mapping[str, Any]], Behaviour | None]

_INJECTION = re.compile(
    r"\brun\s+(?P<action>[A-Za-z_][\w-]*)\s+on\s+(?P<service>[\w.-]*\w)"
    r"(?:\s+with\s+(?P<params>\w+=[^\s,\"\\]+(?:\s*,\s*\w+=[^\s,\"\\]+)*))?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as received: path, headers (lower-cased names) and the JSON body."""

    path: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def user_text(self) -> str:
        messages = self.body.get("messages", [])
        return "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")


class FakeLLMServer:
    """A threaded HTTP server speaking OpenAI chat completions; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Behaviour]] = {}
        self._defaults: dict[str, Behaviour] = {}
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._ids = count(1)
        self.handler: Handler | None = None
        self.default: Behaviour = Reply()
        # What GET .../models answers (Warden's start-up check of the model).
        self.models_list_status = 200
        self._httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """What to set as the client's base URL (``/v1`` like OpenAI's)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, model: str, *behaviours: Behaviour) -> None:
        """Queue behaviours for ``model``'s next requests, in order."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(behaviours)

    def set_default(self, model: str, behaviour: Behaviour) -> None:
        """What ``model`` answers whenever its queue is empty."""
        with self._lock:
            self._defaults[model] = behaviour

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, model: str | None = None) -> int:
        """How many requests arrived (for ``model`` only, when given)."""
        return len([r for r in self.requests if model is None or r.model == model])

    def models_called(self) -> list[str]:
        """The requested model of each request, in arrival order."""
        return [r.model for r in self.requests]

    def reset(self) -> None:
        """Forget recorded requests, queues, defaults and the handler."""
        with self._lock:
            self._requests.clear()
            self._queues.clear()
            self._defaults.clear()
        self.handler = None
        self.default = Reply()

    def _record_and_choose(self, request: RecordedRequest) -> Behaviour:
        with self._lock:
            self._requests.append(request)
            queue = self._queues.get(request.model)
            if queue:
                return queue.popleft()
        if self.handler is not None:
            chosen = self.handler(request.model, request.body)
            if chosen is not None:
                return chosen
        with self._lock:
            return self._defaults.get(request.model, self.default)

    def _completion(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        prompt_text = json.dumps(request.body.get("messages", []))
        prompt_tokens = (
            reply.prompt_tokens if reply.prompt_tokens is not None else len(prompt_text) // 4
        )
        completion_tokens = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else max(1, len(reply.content) // 4)
        )
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if reply.cost is not None:
            usage["cost"] = reply.cost
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.served_model or request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }


def _obey(request: RecordedRequest, obedient: Obedient) -> Reply:
    match = _INJECTION.search(request.user_text)
    if match is None:
        return obedient.otherwise
    params: dict[str, str] = {}
    for pair in (match.group("params") or "").split(","):
        if "=" in pair:
            key, _, value = pair.strip().partition("=")
            params[key] = value
    return Reply(
        proposal(
            category=obedient.category,
            severity=obedient.severity,
            root_cause="The alert says what to do.",
            action=match.group("action"),
            service=match.group("service"),
            params=params,
            confidence=0.99,
        )
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLMServer


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """The models list (``GET .../models``), answered with ``models_list_status``."""
        fake = self.server.fake
        if not self.path.rstrip("/").endswith("/models"):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        if fake.models_list_status != 200:
            self._send_json(fake.models_list_status, {"error": {"message": "scripted"}})
            return
        self._send_json(200, {"object": "list", "data": [{"id": "model-a", "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            error = {"message": f"no route {self.path}", "type": "not_found"}
            self._send_json(404, {"error": error})
            return
        try:
            body = json.loads(data)
        except ValueError:
            self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid"}})
            return
        fake = self.server.fake
        request = RecordedRequest(
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        behaviour = fake._record_and_choose(request)
        self._answer(fake, request, behaviour)

    def _answer(self, fake: FakeLLMServer, request: RecordedRequest, behaviour: Behaviour) -> None:
        if isinstance(behaviour, Obedient):
            behaviour = _obey(request, behaviour)
        if isinstance(behaviour, Hang):
            if fake._stopping.wait(behaviour.seconds):
                self._drop()
                return
            behaviour = behaviour.then
        if isinstance(behaviour, Disconnect):
            self._drop()
        elif isinstance(behaviour, Status):
            headers = {}
            if behaviour.retry_after is not None:
                headers["Retry-After"] = f"{behaviour.retry_after:g}"
            error = {"message": behaviour.message, "type": "scripted", "code": behaviour.code}
            self._send_json(behaviour.code, {"error": error}, headers)
        else:
            self._send_json(200, fake._completion(request, behaviour))

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may have gone already
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send_json(
        self, code: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            # The client gave up (its timeout passed while we hung): nothing to tell it.
            self.close_connection = True


@pytest.fixture
def llm_server() -> Iterator[FakeLLMServer]:
    """A started fake LLM server, stopped after the test."""
    with FakeLLMServer() as server:
        yield server
