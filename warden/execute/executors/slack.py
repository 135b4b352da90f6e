"""Slack as a notification target: Warden's notices and verdict buttons, via the Web API.

``SlackNotifier`` posts with the official ``slack_sdk`` clients: ``chat.postMessage`` for
a notice, ``chat.update`` when a verdict changes a posted request, and (``respond``) an
interaction's ``response_url`` for a reply only the clicking user sees. The API base URL is
``WARDEN_SLACK_API_URL`` so tests point it at a local server. Nothing here reads the
store: messages are built from the notice payload (``_slack_blocks``), whose raw-alert
excerpt the notify step makes with ``alert_excerpt``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from warden.config import Settings
from warden.errors import ExecutorError
from warden.execute.executors import ExecutorResult
from warden.execute.executors._slack_blocks import (
    EXCERPT_CHARS,
    SlackMessage,
    escape,
    notice_message,
    with_status,
)

# Web API errors that a later attempt may get past; every other error is a refusal.
_RETRYABLE_ERRORS = frozenset({"ratelimited", "service_unavailable", "internal_error",
                               "fatal_error", "request_timeout"})


def alert_excerpt(raw: Mapping[str, Any] | None, limit_chars: int = EXCERPT_CHARS) -> str:
    """The start of an alert's raw payload as indented JSON, for a message to humans
    (who read the rest in the console); empty for no alert."""
    if not raw:
        return ""
    text = json.dumps(raw, indent=1, ensure_ascii=False, default=str)
    if len(text) <= limit_chars:
        return text
    return f"{text[:limit_chars]}\n… ({len(text) - limit_chars} more characters in the console)"


def console_url(public_url: str, incident_id: int) -> str:
    """The incident's page in the console."""
    return f"{public_url.rstrip('/')}/incidents/{incident_id}"


class SlackNotifier:
    """Posts to one Slack workspace as the bot of ``token``.

    A notice goes to the channel named for its service in ``channels``, else the one named
    for its tier, else ``default_channel``. ``tier_of`` gives a service's tier where the
    caller knows only the service (the policy's ``notify`` action).
    """

    def __init__(
        self, *, token: str, api_url: str, timeout_s: float, public_url: str,
        default_channel: str | None, channels: Mapping[str, str],
        tier_of: Callable[[str], str] | None = None,
    ) -> None:
        self._timeout = max(1, math.ceil(timeout_s))
        self._client = WebClient(token=token, base_url=api_url, timeout=self._timeout)
        self.public_url = public_url
        self.default_channel = default_channel
        self.channels = dict(channels)
        self.tier_of = tier_of

    @classmethod
    def from_settings(
        cls, settings: Settings, *, tier_of: Callable[[str], str] | None = None
    ) -> SlackNotifier | None:
        """The notifier ``settings`` describe; None when no bot token is set."""
        if settings.slack_bot_token is None:
            return None
        return cls(token=settings.slack_bot_token.get_secret_value(),
                   api_url=settings.slack_api_url, timeout_s=settings.executor_timeout_s,
                   public_url=settings.public_url, default_channel=settings.slack_channel,
                   channels=settings.slack_channels, tier_of=tier_of)

    def channel_for(self, service: str, tier: str | None = None) -> str | None:
        """Where news about ``service`` goes; None when no channel is configured."""
        if tier is None and self.tier_of is not None:
            tier = self.tier_of(service)
        return (self.channels.get(service)
                or (self.channels.get(tier) if tier is not None else None)
                or self.default_channel)

    def send(self, payload: Mapping[str, Any]) -> ExecutorResult:
        """Deliver what ``NotifyExecutor.send`` delivers: a notice of the notify step (it
        has an ``incident`` object) as ``announce`` does, or the policy's ``notify``
        action (``service`` and ``text``) as a plain message to the service's channel."""
        if isinstance(payload.get("incident"), Mapping):
            return self.announce(payload)
        service = str(payload.get("service") or "")
        channel = self._channel_or_refuse(service, None)
        text = escape(str(payload.get("text") or ""))
        return self.post(channel, SlackMessage(text=text, blocks=(
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},)))

    def announce(self, payload: Mapping[str, Any]) -> ExecutorResult:
        """Post the notify step's notice ``payload`` (execute/_announce.py) as a Block Kit
        message to its channel; a pending approval request gets Approve/Reject buttons.
        Raises ``ExecutorError`` as ``post`` does, or (not recoverable) when no channel is
        configured for the incident."""
        incident = payload.get("incident") or {}
        channel = self._channel_or_refuse(str(incident.get("service") or ""),
                                          incident.get("tier"))
        message = notice_message(payload,
                                 console_url=console_url(self.public_url, int(incident["id"])))
        return self.post(channel, message)

    def _channel_or_refuse(self, service: str, tier: str | None) -> str:
        channel = self.channel_for(service, tier)
        if channel is None:
            raise ExecutorError(
                f"no Slack channel for {service!r}: set WARDEN_SLACK_CHANNEL or "
                "WARDEN_SLACK_CHANNELS", recoverable=False)
        return channel

    def post(self, channel: str, message: SlackMessage) -> ExecutorResult:
        """``chat.postMessage``. ``ok`` is Slack's ``ok``; the output names the channel and
        the message's ``ts`` (or Slack's error). Raises ``ExecutorError`` when Slack cannot
        be reached or answers with an error a retry may fix (rate limited)."""
        return self._call("chat.postMessage", lambda: self._client.chat_postMessage(
            channel=channel, text=message.text, blocks=list(message.blocks)))

    def update(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]
    ) -> ExecutorResult:
        """``chat.update`` of the message ``ts`` in ``channel``; answers as ``post``."""
        return self._call("chat.update", lambda: self._client.chat_update(
            channel=channel, ts=ts, text=text, blocks=[dict(b) for b in blocks]))

    def update_status(
        self, *, channel: str, ts: str, blocks: Sequence[Mapping[str, Any]], line: str,
        final: bool,
    ) -> ExecutorResult:
        """Rewrite the posted message ``ts``: ``blocks`` (as Slack sent them back) with the
        status ``line`` (plain text) and, when ``final``, without its buttons."""
        return self.update(channel=channel, ts=ts, text=escape(line),
                           blocks=with_status(blocks, line, final=final))

    def _call(self, method: str, call: Callable[[], Any]) -> ExecutorResult:
        try:
            response = call()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            if error in _RETRYABLE_ERRORS or exc.response.status_code >= 500:
                raise ExecutorError(f"slack {method}: {error}", recoverable=True) from exc
            return ExecutorResult(False, f"slack {method}: {error}")
        except (SlackClientError, OSError) as exc:
            raise ExecutorError(f"slack {method}: {type(exc).__name__}: {exc}",
                                recoverable=True) from exc
        return ExecutorResult(True, f"slack {method} -> {response.get('channel')} "
                                    f"ts={response.get('ts')}")


def respond(response_url: str, text: str, *, timeout_s: float) -> ExecutorResult:
    """An ephemeral reply through an interaction's ``response_url`` (only the user who
    clicked sees it); needs no bot token. Only call it with a URL from a request whose
    signature was verified: it is where Slack told us to answer, never a URL a stranger
    chose. ``text`` is plain (escaped here). Raises ``ExecutorError`` (recoverable) when
    it cannot be delivered."""
    try:
        response = WebhookClient(response_url, timeout=max(1, math.ceil(timeout_s))).send(
            text=escape(text), response_type="ephemeral", replace_original=False)
    except (SlackClientError, OSError) as exc:
        raise ExecutorError(f"slack response_url: {type(exc).__name__}: {exc}",
                            recoverable=True) from exc
    ok = 200 <= response.status_code < 300
    return ExecutorResult(ok, f"response_url -> {response.status_code} {response.body}")
