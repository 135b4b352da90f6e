"""What ``warden demo`` runs beside Warden, on 127.0.0.1: a stand-in for the
infrastructure and the on-call webhook, and a scripted model.

``StandInTarget`` records every request and answers 200. ``ScriptedModel`` speaks the
OpenAI chat-completions wire format (as OpenRouter does, ``usage.cost`` included) and
answers each alert with the reply scripted for the first phrase of the script found in
the prompt, so Warden's real ``openai`` provider, parser and policy see it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo prints what matters."""

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class StandInTarget(_Server):
    """Records ``(method, path, body)`` of every request; answers 200 ``{"ok": true}``."""

    def __init__(self) -> None:
        super().__init__(_TargetHandler)
        self.lock = threading.Lock()
        self.received: list[tuple[str, str, bytes]] = []

    def requests(self, path: str | None = None) -> list[tuple[str, str, bytes]]:
        with self.lock:
            return [r for r in self.received if path is None or r[1] == path]


class _TargetHandler(_Handler):
    server: StandInTarget

    def _serve(self) -> None:
        body = self._body()
        with self.server.lock:
            self.server.received.append((self.command, self.path, body))
        self._json(200, {"ok": True})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class ScriptedModel(_Server):
    """``POST .../chat/completions``: the reply scripted for a phrase of the prompt; a
    phrase scripted ``None`` gets a 503, as from a model that is down."""

    def __init__(self, script: Mapping[str, str | None], *, fallback: str) -> None:
        super().__init__(_ModelHandler)
        self.script = dict(script)
        self.fallback = fallback
        self.ids = count(1)
        self.calls = 0

    def reply_for(self, prompt: str) -> str | None:
        self.calls += 1
        # The alert's own title comes first; evidence (similar past incidents) may quote
        # other scripted titles further down the prompt.
        found = [(prompt.index(phrase), reply) for phrase, reply in self.script.items()
                 if phrase in prompt]
        return min(found, key=lambda hit: hit[0])[1] if found else self.fallback


class _ModelHandler(_Handler):
    server: ScriptedModel

    def do_POST(self) -> None:
        try:
            body = json.loads(self._body())
        except ValueError:
            self._json(400, {"error": {"message": "not JSON", "type": "invalid_request"}})
            return
        prompt = json.dumps(body.get("messages", []), ensure_ascii=False)
        content = self.server.reply_for(prompt)
        if content is None:
            self._json(503, {"error": {"message": "model unavailable", "type": "server_error"}})
            return
        prompt_tokens, completion_tokens = len(prompt) // 4, len(content) // 4
        self._json(200, {
            "id": f"demo-{next(self.server.ids)}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "demo"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens,
                      # OpenRouter reports the dollars; a made-up small-model price here.
                      "cost": round((prompt_tokens * 0.15 + completion_tokens * 0.6) / 1e6, 8)},
        })
