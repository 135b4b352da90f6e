"""``notify``: a JSON message for humans, POSTed to ``WARDEN_NOTIFY_WEBHOOK_URL``.

The body carries a ``text`` field (what a chat webhook shows) beside structured fields.
With no webhook configured the message is logged; callers audit it, so it shows in the
console either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from warden.errors import ExecutorError
from warden.execute.executors import ExecutorResult, Job, cap
from warden.execute.executors._template import render, values_of

log = structlog.get_logger("warden.notify")

_DEFAULT_MESSAGE = "Warden: incident #{incident} on {service} asks for the on-call engineer"


class NotifyExecutor:
    """Sends notifications; ``webhook_url`` None means log only."""

    def __init__(self, *, webhook_url: str | None, timeout_s: float,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s
        self._transport = transport

    @property
    def target(self) -> str:
        return "webhook" if self.webhook_url else "log"

    def run(self, job: Job) -> ExecutorResult:
        """The ``notify`` action: the policy's ``message`` template (default: a page for
        the on-call engineer), sent with the incident and action."""
        values = {**values_of(job.action), "incident": str(job.incident.id)}
        text = render(job.spec.message or _DEFAULT_MESSAGE, values)
        if job.dry_run:
            return ExecutorResult(True, f"dry run: would notify ({self.target}): {text}")
        return self.send({
            "text": text, "kind": "action", "incident_id": job.incident.id,
            "service": job.action.service, "title": job.incident.title,
            "action": {"name": job.action.name, "params": dict(job.action.params)},
            "idempotency_key": job.idempotency_key,
        })

    def send(self, payload: Mapping[str, Any]) -> ExecutorResult:
        """POST ``payload`` as JSON (any 2xx is delivered), or log it when no webhook is
        set. Raises ``ExecutorError`` (recoverable) when the webhook cannot be reached."""
        if not self.webhook_url:
            log.warning("notify.logged_only", reason="WARDEN_NOTIFY_WEBHOOK_URL is not set",
                        **payload)
            return ExecutorResult(True, f"logged (no webhook configured): {payload.get('text')}")
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False,
                              transport=self._transport) as client:
                response = client.post(self.webhook_url, json=dict(payload))
        except httpx.HTTPError as exc:
            raise ExecutorError(f"notify webhook: {type(exc).__name__}: {exc}",
                                recoverable=True) from exc
        ok = 200 <= response.status_code < 300
        detail = cap(response.content, 2048)
        return ExecutorResult(ok, f"webhook -> {response.status_code} {detail}".rstrip())
