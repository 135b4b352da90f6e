"""Slack's two doors into Warden: button clicks (interactivity) and channel messages (Events).

- ``POST /v1/slack/interactions``: Approve/Reject clicks. Every request gets 200 within
  Slack's 3 s (Slack shows no error page to a clicking user); a refusal changes nothing
  and its reason goes back as an ephemeral message, in the answer and, for a request
  Slack signed, through its ``response_url``. A recorded verdict rewrites the request's
  message (``chat.update``) to say who decided.
- ``POST /v1/slack/events``: the ``url_verification`` challenge, and ``message`` events
  from the configured channels or bots, stored as alerts of source ``slack`` through the
  same ``store_delivery`` as ``/v1/alerts/{source}`` (stored before the 200; a retried event is a
  duplicate). Other events get 200 and are ignored. Unsigned, stale or replayed requests
  get 401 and change nothing.

Both check Slack's signature over the raw body before decoding it (``_slack_guard``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from warden.approval import ApprovalState
from warden.approval.slack import Refused, SlackVote, read_interaction, status_line, vote
from warden.errors import (
    ApprovalError,
    AuthError,
    ExecutorError,
    PayloadError,
)
from warden.execute.executors.slack import SlackNotifier, respond
from warden.ingest.accept import Delivery, decode_json
from warden.ingest.sources.slack import SOURCE, ignore_reason
from warden.web._responses import error_responses
from warden.web._slack_guard import SlackGuard
from warden.web.deps import WardenDep
from warden.web.ingest import read_limited, store_delivery

log = structlog.get_logger("warden.slack")

router = APIRouter(tags=["slack"])


def _guard(request: Request, warden: WardenDep) -> SlackGuard:
    """The app's one guard, so that its replay memory covers every request."""
    guard: SlackGuard | None = getattr(request.app.state, "slack_guard", None)
    if guard is None:
        guard = SlackGuard(warden.settings.slack_signing_secret,
                           now=lambda: warden.clock().timestamp())
        request.app.state.slack_guard = guard
    return guard


def _ephemeral(text: str) -> JSONResponse:
    return JSONResponse({"response_type": "ephemeral", "replace_original": False,
                         "text": text})


@router.post("/v1/slack/interactions", responses=error_responses(413))
async def slack_interactions(
    request: Request, warden: WardenDep, later: BackgroundTasks
) -> JSONResponse:
    """A click on Approve or Reject, as Slack posts it (form field ``payload``)."""
    body = await read_limited(request, warden.settings.max_body_bytes)
    refusal = _guard(request, warden).check(request.headers, body)
    if refusal is not None:
        log.warning("slack.interaction_refused", reason=refusal)
        # Unverified: its response_url is whatever the sender wrote, so it is not used.
        return _ephemeral(f"Warden refused this request: {refusal}. Nothing was recorded.")
    ballot = read_interaction(_form_payload(body), users=warden.settings.slack_users)
    timeout_s = warden.settings.executor_timeout_s
    if isinstance(ballot, Refused):
        text = f"Warden did not record this: {ballot.reason}."
        if ballot.response_url is not None:
            later.add_task(_respond, ballot.response_url, text, timeout_s)
        return _ephemeral(text)
    try:
        done = await run_in_threadpool(
            lambda: vote(warden.store, ballot, policy=warden.policy.current,
                         now=warden.clock()))
    except ApprovalError as exc:
        text = f"Warden did not record your {ballot.verdict.value}: {exc}."
        if ballot.response_url is not None:
            later.add_task(_respond, ballot.response_url, text, timeout_s)
        return _ephemeral(text)
    warden.wake_worker()  # an approved action (or a blocked re-check's notice) is due now
    line = status_line(done, ballot)
    later.add_task(_show_verdict, SlackNotifier.from_settings(warden.settings), ballot, line,
                   done.state is not ApprovalState.PENDING)
    return _ephemeral(line)


@router.post("/v1/slack/events", responses=error_responses(400, 401, 413, 422, 503))
async def slack_events(request: Request, warden: WardenDep) -> JSONResponse:
    """Slack's Events API: answers ``url_verification``; stores alert messages."""
    body = await read_limited(request, warden.settings.max_body_bytes)
    refusal = _guard(request, warden).check(request.headers, body)
    if refusal is not None:
        raise AuthError(refusal)
    event = decode_json(body)
    if isinstance(event, dict) and event.get("type") == "url_verification":
        challenge = event.get("challenge")
        if not isinstance(challenge, str):
            raise PayloadError("challenge must be a string", "$.challenge")
        return JSONResponse({"challenge": challenge})
    settings = warden.settings
    ignored = ignore_reason(event, channels=settings.slack_alert_channels,
                            bot_ids=settings.slack_alert_bot_ids)
    if ignored is not None:
        return JSONResponse({"ok": True, "ignored": ignored})
    folded = await store_delivery(warden, Delivery(
        source=SOURCE, body=body, headers=dict(request.headers),
        content_type=request.headers.get("content-type", "")))
    return JSONResponse({"ok": True, "alerts": [
        {"alert_id": f.alert_id, "incident_id": f.incident_id, "duplicate": f.duplicate}
        for f in folded]})


def _form_payload(body: bytes) -> Any:
    """The JSON of the form field ``payload``; None when there is none to read."""
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
        return json.loads(fields["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError, RecursionError):
        return None


def _respond(response_url: str, text: str, timeout_s: float) -> None:
    try:
        respond(response_url, text, timeout_s=timeout_s)
    except ExecutorError as exc:
        log.warning("slack.respond_failed", error=str(exc))


def _show_verdict(
    notifier: SlackNotifier | None, ballot: SlackVote, line: str, final: bool
) -> None:
    """Rewrite the clicked message to say who decided (buttons gone once it is final);
    without a bot token, the user who clicked is told instead."""
    try:
        if notifier is not None and ballot.channel_id and ballot.message_ts and ballot.blocks:
            result = notifier.update_status(channel=ballot.channel_id, ts=ballot.message_ts,
                                            blocks=ballot.blocks, line=line, final=final)
            if not result.ok:
                log.warning("slack.update_failed", output=result.output)
        elif ballot.response_url is not None:
            respond(ballot.response_url, line, timeout_s=5)
    except ExecutorError as exc:
        log.warning("slack.update_failed", error=str(exc))
