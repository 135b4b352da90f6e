"""Slack, for monitoring that posts its alerts to a channel (Selzee among them): one alert
per ``message`` event of the Events API.

The body is the Events API envelope: ``{"type": "event_callback", "event_id", "team_id",
"api_app_id", "event": {"type": "message", "channel", "ts", "text", "user" | "bot_id",
"subtype"?, "attachments"?}}``. Which messages count (configured channels or bot ids) is
the endpoint's choice, made with ``ignore_reason`` before the body reaches ``accept``;
this adapter parses whatever message it is given.

- The text read is the message's ``text``, then each attachment's pretext, title, text
  and fields (``Title: value``); the title is its first line, cut to 200 characters.
  A text that is one JSON object (a monitor posting its report as JSON, possibly in a
  code block) is read like a Selzee report: ``service_id`` or ``service``, then the
  message fields, ``severity``.
- The service is the first ``service: NAME`` (or ``service_id``, ``component``, with ``:``
  or ``=``) in the text, or an attachment field of that title; else ``unknown``.
- The severity is a ``severity: WORD`` likewise, mapped as a label would be.
- ``[RESOLVED]`` (or ``RESOLVED:``) before the title makes the alert resolved;
  ``[FIRING:n]`` and ``[RESOLVED]`` are left out of the fingerprint so that a resolve
  finds its firing.
- The incident key and fingerprint hash the service and that title. A message is one
  delivery: its channel and ``ts`` (Slack's id of a message) are the dedup key, so a
  retried event never counts twice.
- ``raw`` is the message (the ``event`` object) as Slack sent it; the envelope, with
  its legacy verification token, is kept only in the stored delivery.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from datetime import UTC, datetime

from warden.domain import Alert, AlertStatus
from warden.errors import PayloadError
from warden.ingest._fingerprint import digest
from warden.ingest.sources._fields import (
    MAX_NAME_CHARS,
    UNKNOWN_SERVICE,
    JSONObject,
    as_object,
    check_text,
    optional_object,
    optional_string,
    required_string,
    service_name,
    severity_from_label,
)

SOURCE = "slack"
MAX_TITLE_CHARS = 200
# Messages with these subtypes are new posts; every other subtype (edits, deletions,
# joins, topic changes...) says something about the channel, not about a service.
_POSTED_SUBTYPES = frozenset({"bot_message"})
_SELZEE_MESSAGE_KEYS = ("message", "error", "error_message", "description")

_TS = re.compile(r"[0-9]{1,10}(\.[0-9]{1,9})?")
_NAME = rf"[A-Za-z0-9][A-Za-z0-9._/-]{{0,{MAX_NAME_CHARS - 1}}}"
_SERVICE_IN_TEXT = re.compile(
    rf"\b(?:service_id|service|component)\b[*_`]*\s*[:=][\s*_`\"']*({_NAME})", re.IGNORECASE)
_SEVERITY_IN_TEXT = re.compile(r"\bseverity\b[*_`]*\s*[:=][\s*_`\"']*([A-Za-z]+)",
                               re.IGNORECASE)
_STATE_PREFIX = re.compile(r"^\s*[\[(]?\s*(resolved|firing(?:\s*:\s*\d+)?)\s*[\])]?\s*[:\-–]?\s*",
                           re.IGNORECASE)
_CODE_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def ignore_reason(
    body: object, *, channels: Collection[str], bot_ids: Collection[str]
) -> str | None:
    """Why the Events API ``body`` is no alert for Warden, or None when it is one: a new
    message posted in one of ``channels`` (ids) or by one of ``bot_ids``, not a thread
    reply, and not posted by Warden's own app (its notices would come back as alerts)."""
    if not isinstance(body, dict) or body.get("type") != "event_callback":
        return "not an event callback"
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") != "message":
        return "not a message event"
    subtype = event.get("subtype")
    if subtype is not None and not _posted(subtype):
        return f"a {str(subtype)[:64]} message, not a new post"
    if event.get("hidden"):
        return "a hidden message"
    thread_ts = event.get("thread_ts")
    if thread_ts is not None and thread_ts != event.get("ts"):
        return "a reply in a thread"
    app = body.get("api_app_id")
    profile = event.get("bot_profile")
    senders = (event.get("app_id"), profile.get("app_id") if isinstance(profile, dict) else None)
    if app is not None and app in senders:
        return "posted by Warden itself"
    if event.get("channel") in channels or event.get("bot_id") in bot_ids:
        return None
    return "neither from a configured channel nor from a configured bot"


class SlackAdapter:
    """Parses one Events API ``message`` event into one ``Alert``; other events hold none."""

    def parse(self, body: object, *, received_at: datetime) -> list[Alert]:
        top = as_object(body, "$")
        if top.get("type") != "event_callback":
            return []
        event = optional_object(top, "event", "$")
        if event is None or event.get("type") != "message":
            return []
        subtype = event.get("subtype")
        if subtype is not None and not _posted(subtype):
            return []
        channel = required_string(event, "channel", "$.event", max_chars=MAX_NAME_CHARS)
        ts = required_string(event, "ts", "$.event")
        if not _TS.fullmatch(ts):
            raise PayloadError("ts must be Slack's message timestamp (seconds.micros)",
                               "$.event.ts")
        text = _message_text(event)
        report = _json_report(text)
        service, severity_word, message = (
            _from_report(report) if report is not None else _from_text(text))
        title = _title(message) if message.strip() else f"Slack message in {channel}"
        state = _STATE_PREFIX.match(title)
        resolved = state is not None and state.group(1).lower() == "resolved"
        headline = title[state.end():] if state is not None else title
        fingerprint = digest(SOURCE, service, headline)
        labels = {"slack_channel": channel}
        sender = optional_string(event, "bot_id", "$.event") or optional_string(
            event, "user", "$.event")
        if sender:
            labels["slack_sender"] = sender[:MAX_NAME_CHARS]
        return [Alert(
            source=SOURCE,
            service=service,
            title=title,
            description=message,
            severity=severity_from_label(severity_word),
            labels=labels,
            fingerprint=fingerprint,
            incident_key=f"{SOURCE}:{fingerprint}",
            dedup_key=digest(SOURCE, channel, ts),
            status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
            starts_at=datetime.fromtimestamp(float(ts), UTC),
            raw=event,
        )]


def _posted(subtype: object) -> bool:
    return isinstance(subtype, str) and subtype in _POSTED_SUBTYPES


def _message_text(event: JSONObject) -> str:
    """The message's text and its attachments' words, one part a line."""
    parts = [optional_string(event, "text", "$.event") or ""]
    attachments = event.get("attachments")
    if isinstance(attachments, list):
        for index, item in enumerate(attachments):
            if not isinstance(item, dict):
                continue
            where = f"$.event.attachments[{index}]"
            words = [optional_string(item, key, where) or ""
                     for key in ("pretext", "title", "text")]
            fields = item.get("fields")
            if isinstance(fields, list):
                words += [f"{f.get('title')}: {f.get('value')}" for f in fields
                          if isinstance(f, dict) and isinstance(f.get("title"), str)
                          and isinstance(f.get("value"), str)]
            if not any(w.strip() for w in words):
                words = [optional_string(item, "fallback", where) or ""]
            parts += words
    text = "\n".join(p for p in parts if p.strip())
    return check_text(text, "$.event", "the message")


def _json_report(text: str) -> JSONObject | None:
    """The JSON object a message consists of, if it is one."""
    fenced = _CODE_FENCE.match(text)
    candidate = (fenced.group(1) if fenced else text).strip()
    if not candidate.startswith("{"):
        return None
    try:
        value = json.loads(candidate)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _from_report(report: JSONObject) -> tuple[str, str | None, str]:
    raw_service = next((report[k] for k in ("service_id", "service")
                        if isinstance(report.get(k), str | int)
                        and not isinstance(report.get(k), bool)), None)
    service = _service(str(raw_service) if raw_service is not None else None)
    message = next((v for k in _SELZEE_MESSAGE_KEYS
                    if isinstance(v := report.get(k), str) and v.strip()), "")
    severity = report.get("severity")
    return service, severity if isinstance(severity, str) else None, check_text(
        message, "$.event.text", "the message")


def _from_text(text: str) -> tuple[str, str | None, str]:
    service = _SERVICE_IN_TEXT.search(text)
    severity = _SEVERITY_IN_TEXT.search(text)
    return (_service(service.group(1) if service else None),
            severity.group(1) if severity else None, text)


def _service(name: str | None) -> str:
    if name is None or not name.strip():
        return UNKNOWN_SERVICE
    # A name at the end of a sentence ("service: checkout-web.") ends before the dot.
    name = name.strip().rstrip("./-") or name.strip()
    return service_name(check_text(name, "$.event.text", "the service"), "$.event.text")


def _title(message: str) -> str:
    line = next(line.strip() for line in message.splitlines() if line.strip())
    return line if len(line) <= MAX_TITLE_CHARS else line[: MAX_TITLE_CHARS - 1] + "…"
