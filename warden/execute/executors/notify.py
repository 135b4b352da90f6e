"""``notify``: a JSON message for humans, POSTed to ``WARDEN_NOTIFY_WEBHOOK_URL`` and/or
posted to Slack (``WARDEN_SLACK_BOT_TOKEN``, executors/slack.py).

The body carries a ``text`` field (what a chat webhook shows, with Slack's ``& < >``
escaped) beside structured fields.
With neither configured the message is logged; callers audit it, so it shows in the
console either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from warden.errors import ExecutorError
from warden.execute.executors import ExecutorResult, Job, cap
from warden.execute.executors._slack_blocks import escape
from warden.execute.executors._template import render, values_of
from warden.redact import redact

if TYPE_CHECKING:
    from warden.execute.executors.slack import SlackNotifier

log = structlog.get_logger("warden.notify")

_DEFAULT_MESSAGE = "Warden: incident #{incident} on {service} asks for the on-call engineer"


class NotifyExecutor:
    """Sends notifications to the webhook and/or Slack; neither means log only."""

    def __init__(self, *, webhook_url: str | None, timeout_s: float,
                 transport: httpx.BaseTransport | None = None,
                 slack: SlackNotifier | None = None) -> None:
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s
        self._transport = transport
        self.slack = slack

    @property
    def target(self) -> str:
        """``webhook``, ``slack``, ``slack+webhook`` or ``log``."""
        targets = [name for name, on in (("slack", self.slack is not None),
                                         ("webhook", bool(self.webhook_url))) if on]
        return "+".join(targets) or "log"

    def run(self, job: Job) -> ExecutorResult:
        """The ``notify`` action: the policy's ``message`` template (default: a page for
        the on-call engineer), sent with the incident and action."""
        values = {**values_of(job.action), "incident": str(job.incident.id)}
        text = render(job.spec.message or _DEFAULT_MESSAGE, values)
        if job.dry_run:
            return ExecutorResult(True, f"dry run: would notify ({self.target}): {text}")
        return self.send({
            "text": text, "kind": "action", "incident_id": job.incident.id,
            # Leaves the process: the alert's words redacted, as for the model.
            "service": job.action.service, "title": redact(job.incident.title).text,
            "action": {"name": job.action.name, "params": dict(job.action.params)},
            "idempotency_key": job.idempotency_key,
        })

    def send(self, payload: Mapping[str, Any]) -> ExecutorResult:
        """Deliver ``payload`` to every configured target (``_send_webhook``, Slack's
        ``SlackNotifier.send``); ``ok`` when each took it. Raises the first
        ``ExecutorError`` only when every target raised one."""
        if self.slack is None:
            return self._send_webhook(payload)
        senders = ([self._send_webhook] if self.webhook_url else []) + [self.slack.send]
        results: list[ExecutorResult] = []
        errors: list[ExecutorError] = []
        for deliver in senders:
            try:
                results.append(deliver(payload))
            except ExecutorError as exc:
                errors.append(exc)
        if errors and not results:
            raise errors[0]
        return ExecutorResult(not errors and all(r.ok for r in results),
                              "; ".join([r.output for r in results] + [str(e) for e in errors]))

    def _send_webhook(self, payload: Mapping[str, Any]) -> ExecutorResult:
        """POST ``payload`` as JSON (any 2xx is delivered), or log it when no webhook is
        set. Raises ``ExecutorError`` (recoverable) when the webhook cannot be reached."""
        if not self.webhook_url:
            # One short line; the whole notice is in the audit log and the console.
            log.warning("notify.logged_only", reason="WARDEN_NOTIFY_WEBHOOK_URL is not set",
                        incident=payload.get("incident_id")
                        or (payload.get("incident") or {}).get("id"),
                        text=str(payload.get("text") or "")[:200])
            return ExecutorResult(True, f"logged (no webhook configured): {payload.get('text')}")
        # Chat webhooks (Slack's, and the many that copy its format) read ``text`` as
        # markup: escaped, an alert's words cannot ping <!channel> or disguise a link.
        body = {**payload, "text": escape(str(payload.get("text") or ""))}
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False,
                              transport=self._transport) as client:
                response = client.post(self.webhook_url, json=body)
        except httpx.HTTPError as exc:
            raise ExecutorError(f"notify webhook: {type(exc).__name__}: {exc}",
                                recoverable=True) from exc
        ok = 200 <= response.status_code < 300
        detail = cap(response.content, 2048)
        return ExecutorResult(ok, f"webhook -> {response.status_code} {detail}".rstrip())
