"""Verdicts from Slack: what an Approve/Reject button carries, and turning a click into one.

A button's value is ``"{incident_id}:{decision_digest}"``: the incident, and a digest of
the decision the message showed, so that a click on a message about an earlier decision
(the incident was triaged again since) approves nothing. ``read_interaction`` is pure: it
reads a ``block_actions`` payload whose signature the web layer has verified and maps the
Slack user to an approver name (``WARDEN_SLACK_USERS``). ``vote`` records the verdict
through ``submit``, the same entry point as the console, CLI and API, with the channel
``slack``, so the policy's approvers, quorum and ``approval_channels`` apply unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warden.approval._submit import ApprovalState, Submitted, submit
from warden.domain import ApprovalChannel, Verdict
from warden.errors import StaleDecision
from warden.policy import Policy
from warden.store import Store

APPROVE_ACTION_ID = "warden_approve"
REJECT_ACTION_ID = "warden_reject"
_VERDICTS = {APPROVE_ACTION_ID: Verdict.APPROVE, REJECT_ACTION_ID: Verdict.REJECT}


def button_value(incident_id: int, decision_digest: str) -> str:
    """What the Approve and Reject buttons of a request about the decision named
    ``decision_digest`` (``warden.approval.digest_of``) carry."""
    return f"{incident_id}:{decision_digest}"


@dataclass(frozen=True, slots=True)
class SlackVote:
    """A click on Approve or Reject by a Slack user who maps to approver ``approver``.

    ``channel_id``, ``message_ts`` and ``blocks`` locate and reproduce the message that
    was clicked (to update it); ``response_url`` is where Slack takes a private reply.
    """

    incident_id: int
    decision_digest: str
    verdict: Verdict
    approver: str
    slack_user: str
    channel_id: str | None
    message_ts: str | None
    blocks: tuple[Mapping[str, Any], ...]
    response_url: str | None


@dataclass(frozen=True, slots=True)
class Refused:
    """An interaction that records nothing, and why (for the user who clicked)."""

    reason: str
    response_url: str | None = None


def read_interaction(payload: object, *, users: Mapping[str, str]) -> SlackVote | Refused:
    """The verdict a verified interaction ``payload`` (the decoded ``payload=`` form field)
    asks for, or why it asks for none: not a click on Warden's buttons, a malformed
    button value, or a Slack user id missing from ``users`` (Slack id -> approver)."""
    if not isinstance(payload, dict):
        return Refused("the interaction payload is not a JSON object")
    response_url = _str(payload.get("response_url"))
    if response_url is not None and not response_url.startswith(("https://", "http://")):
        response_url = None
    if payload.get("type") != "block_actions":
        return Refused("Warden only handles its Approve and Reject buttons", response_url)
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    if not isinstance(action, dict) or action.get("action_id") not in _VERDICTS:
        return Refused("Warden only handles its Approve and Reject buttons", response_url)
    target = _parse_value(action.get("value"))
    if target is None:
        return Refused("the button does not name an incident", response_url)
    user = payload.get("user")
    slack_user = _str(user.get("id")) if isinstance(user, dict) else None
    approver = users.get(slack_user) if slack_user is not None else None
    if slack_user is None or approver is None:
        return Refused(f"your Slack user ({slack_user or 'unknown'}) is not mapped to a "
                       "Warden approver (WARDEN_SLACK_USERS); nothing was recorded",
                       response_url)
    container = payload.get("container")
    container = container if isinstance(container, dict) else {}
    message = payload.get("message")
    blocks = message.get("blocks") if isinstance(message, dict) else None
    return SlackVote(
        incident_id=target[0], decision_digest=target[1], verdict=_VERDICTS[action["action_id"]],
        approver=approver, slack_user=slack_user,
        channel_id=_str(container.get("channel_id")), message_ts=_str(container.get("message_ts")),
        blocks=tuple(b for b in blocks if isinstance(b, dict)) if isinstance(blocks, list) else (),
        response_url=response_url,
    )


def vote(store: Store, ballot: SlackVote, *, policy: Policy, now: datetime) -> Submitted:
    """Record ``ballot`` through ``submit`` (channel ``slack``), unless the message it
    came from shows an earlier decision than the incident's current one. Raises what
    ``submit`` raises (``NotAllowed`` where the tier's ``approval_channels`` exclude
    Slack), and ``ApprovalStateError`` for an outdated message; either changes nothing."""
    try:
        return submit(store, incident_id=ballot.incident_id, user=ballot.approver,
                      verdict=ballot.verdict,
                      reason=f"in Slack, as Slack user {ballot.slack_user}",
                      channel=ApprovalChannel.SLACK, decision_digest=ballot.decision_digest,
                      policy=policy, now=now)
    except StaleDecision as exc:
        raise StaleDecision(
            f"this message is about an earlier decision of incident {ballot.incident_id}; "
            "it was triaged again since. Look at the current request in the console") from exc


def status_line(done: Submitted, ballot: SlackVote) -> str:
    """One line for the request's message saying who decided what, and what follows."""
    who = ", ".join(done.approved_by) or ballot.approver
    if done.state is ApprovalState.REJECTED:
        return f":x: Rejected by {ballot.approver} in Slack: nothing will run."
    if done.state is ApprovalState.PENDING:
        return (f":ballot_box_with_check: Approved by {who} "
                f"({len(done.approved_by)} of {done.needed} needed); waiting for more.")
    if done.state is ApprovalState.BLOCKED:
        return (f":no_entry: Approved by {who}, but the policy checked again and blocked it: "
                f"{_first_reason(done.recheck)}. Nothing ran.")
    return f":white_check_mark: Approved by {who}; the policy checked again and it runs now."


def _first_reason(recheck: Mapping[str, Any] | None) -> str:
    reasons = (recheck or {}).get("reasons") or [{}]
    first = reasons[0] if isinstance(reasons[0], dict) else {}
    return f"{first.get('code')}: {first.get('detail')}"


def _parse_value(value: object) -> tuple[int, str] | None:
    if not isinstance(value, str):
        return None
    number, sep, digest = value.partition(":")
    if not sep or not digest or not number.isascii() or not number.isdigit() or len(number) > 18:
        return None
    return int(number), digest


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
