"""Block Kit messages for Slack: what on-call sees of an incident, and the verdict buttons.

Pure: each message is built from the notify step's notice payload (execute/_announce.py)
and nothing else. Slack's limits shape them: a section's text holds at most 3000
characters, a header 150, a field 2000, a button value 2000, and mrkdwn text must escape
``&``, ``<`` and ``>`` (else ``<!channel>`` in an alert would ping a whole channel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from warden.approval.slack import APPROVE_ACTION_ID, REJECT_ACTION_ID, button_value

VERDICT_BLOCK_ID = "warden_verdict"
STATUS_BLOCK_ID = "warden_status"

_SECTION_CHARS = 3000
_FIELD_CHARS = 1900
_HEADER_CHARS = 150
_FALLBACK_CHARS = 3000
EXCERPT_CHARS = 1500
"""How much of the raw alert a message shows; the console shows all of it."""

Block = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A message to post: ``text`` is what notifications and old clients show (mrkdwn,
    so escaped like the blocks)."""

    text: str
    blocks: tuple[Block, ...]


def escape(text: str) -> str:
    """``text`` safe inside mrkdwn: Slack's three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def awaits_verdict(payload: Mapping[str, Any]) -> bool:
    """Whether the notice asks for a verdict: a decision whose approval request is pending."""
    approval = payload.get("approval") or {}
    return payload.get("kind") in ("policy.decided", "policy.rechecked") and (
        approval.get("state") == "pending")


def notice_message(payload: Mapping[str, Any], *, console_url: str) -> SlackMessage:
    """The message for one notice: what happened, the incident, the proposal and the
    policy's reasons, the evidence (one line an item), an excerpt of the raw alert, a
    link to the console, and Approve / Reject buttons when the notice asks for a
    verdict."""
    incident: Mapping[str, Any] = payload.get("incident") or {}
    decision: Mapping[str, Any] = payload.get("decision") or {}
    proposal: Mapping[str, Any] = payload.get("proposal") or {}
    action: Mapping[str, Any] = decision.get("action") or {}
    incident_id = int(incident.get("id") or 0)
    service = str(incident.get("service") or "?")
    asking = awaits_verdict(payload)

    blocks: list[Block] = [
        {"type": "header",
         "text": {"type": "plain_text", "text": _cut(_headline(payload, asking), _HEADER_CHARS)}},
        _section(escape(str(payload.get("text") or ""))),
        {"type": "section", "fields": [
            _field("Service", f"{service} ({incident.get('tier') or '?'} tier)"),
            _field("Incident", f"#{incident_id}: {incident.get('title') or ''}"),
            _field("Category", str(proposal.get("category") or "not triaged")),
            _field("Severity", str(proposal.get("severity") or incident.get("severity")
                                   or "unknown")),
        ]},
        _section("*Root cause (the model's words, unverified)*\n"
                 + escape(str(proposal.get("root_cause") or proposal.get("malformed")
                              or "none given"))),
        _section("*Proposed action*\n" + _action_text(action)),
        _section("*Policy reasons*\n" + _reasons_text(decision.get("reasons") or [])),
    ]
    evidence = [str(line) for line in payload.get("evidence") or ()]
    if evidence:
        blocks.append(_section(_cut("*Evidence (Warden's own reads)*\n" + "\n".join(
            f"• {escape(line)}" for line in evidence), _SECTION_CHARS)))
    excerpt = str(payload.get("alert_excerpt") or "")
    if excerpt:
        blocks.append(_section("*Raw alert (excerpt)*\n```" + escape(excerpt) + "```"))
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": _cut(_context_text(payload, console_url), _SECTION_CHARS)},
    ]})
    if asking:
        value = button_value(incident_id, str(payload.get("decision_digest") or ""))
        blocks.append({"type": "actions", "block_id": VERDICT_BLOCK_ID, "elements": [
            {"type": "button", "action_id": APPROVE_ACTION_ID, "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"}, "value": value},
            {"type": "button", "action_id": REJECT_ACTION_ID, "style": "danger",
             "text": {"type": "plain_text", "text": "Reject"}, "value": value,
             "confirm": {"title": {"type": "plain_text", "text": "Reject this action?"},
                         "text": {"type": "mrkdwn", "text": "Nothing will run."},
                         "confirm": {"type": "plain_text", "text": "Reject"},
                         "deny": {"type": "plain_text", "text": "Cancel"}}},
        ]})
    # The fallback text is mrkdwn too (notifications, old clients): escaped like the blocks.
    return SlackMessage(text=escape(_cut(str(payload.get("text") or ""), _FALLBACK_CHARS)),
                        blocks=tuple(blocks))


def with_status(blocks: Sequence[Mapping[str, Any]], line: str, *, final: bool) -> list[Block]:
    """``blocks`` (a posted message's) with its status line set to ``line`` (plain text
    and emoji codes; escaped here) and, when ``final``, its buttons removed."""
    kept = [dict(b) for b in blocks if b.get("block_id") != STATUS_BLOCK_ID
            and not (final and b.get("block_id") == VERDICT_BLOCK_ID)]
    status: Block = {"type": "section", "block_id": STATUS_BLOCK_ID,
                     "text": {"type": "mrkdwn", "text": _cut(escape(line), _SECTION_CHARS)}}
    at = next((i for i, b in enumerate(kept) if b.get("block_id") == VERDICT_BLOCK_ID),
              len(kept))
    kept.insert(at, status)
    return kept


def _headline(payload: Mapping[str, Any], asking: bool) -> str:
    incident = payload.get("incident") or {}
    decision = payload.get("decision") or {}
    action = (decision.get("action") or {}).get("name") or "no action"
    where = f"{action} on {incident.get('service') or '?'}"
    if asking:
        return f"Approval needed: {where}"
    kind = payload.get("kind")
    event = payload.get("event") or {}
    if kind in ("policy.decided", "policy.rechecked") and event.get("outcome") == "blocked":
        return f"Blocked: {where}"
    if kind == "approval.expired":
        return f"Approval expired: {where}"
    if kind in ("execution.finished", "execution.unknown", "execution.skipped"):
        return f"Execution needs a look: {where}"
    if kind == "verify.failed":
        return f"Health check failed after {where}"
    return f"Incident #{incident.get('id')} on {incident.get('service') or '?'}"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _SECTION_CHARS)}}


def _field(name: str, value: str) -> Block:
    return {"type": "mrkdwn", "text": _cut(f"*{name}*\n{escape(value)}", _FIELD_CHARS)}


def _action_text(action: Mapping[str, Any]) -> str:
    if not action:
        return "none"
    params = action.get("params") or {}
    shown = ", ".join(f"{escape(str(k))}={escape(str(v))}" for k, v in params.items())
    return (f"`{escape(str(action.get('name')))}` on `{escape(str(action.get('service')))}`"
            + (f" with {shown}" if shown else " (no parameters)"))


def _reasons_text(reasons: Sequence[Any]) -> str:
    lines = [f"• `{escape(str(r.get('code')))}`: {escape(str(r.get('detail') or ''))}"
             for r in reasons if isinstance(r, Mapping)]
    return "\n".join(lines) or "none given"


def _context_text(payload: Mapping[str, Any], console_url: str) -> str:
    approval = payload.get("approval") or {}
    parts = [f"<{console_url}|Open in the Warden console> (the full raw alert is there)"]
    if awaits_verdict(payload):
        approvers = ", ".join(escape(str(a)) for a in approval.get("approvers") or []) \
            or "nobody is listed"
        parts.append(f"needs {approval.get('needed')} of: {approvers}")
        if approval.get("expires_at"):
            parts.append(f"expires {escape(str(approval['expires_at']))}")
    return " · ".join(parts)
