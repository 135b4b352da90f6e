"""Plain words for the codes and states the console shows.

An on-call engineer reads "a change freeze is in force", not ``change_freeze``; the code is
shown beside the words so it can still be searched for in the logs and the policy docs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from markupsafe import Markup

from warden.domain import ReasonCode

REASON_WORDS: dict[str, str] = {
    ReasonCode.MALFORMED_PROPOSAL: "The model's reply was not a well-formed proposal, so "
                                   "nothing may run.",
    ReasonCode.NO_ACTION: "The model suggested no action; nothing runs.",
    ReasonCode.ACTION_NOT_ALLOWED: "The suggested action is not on the policy's list of "
                                   "allowed actions.",
    ReasonCode.TARGET_MISMATCH: "The action targets a different service from the one that "
                                "alerted.",
    ReasonCode.INVALID_PARAMS: "The action's parameters are missing, undeclared, or do not "
                               "match the policy's patterns.",
    ReasonCode.TIER_NOT_ALLOWED: "The policy does not allow this action on a service of this "
                                 "tier, not even with approval.",
    ReasonCode.CHANGE_FREEZE: "A change freeze is in force.",
    ReasonCode.SECURITY_INCIDENT: "The alert looks like a security incident, so a human must "
                                  "decide.",
    ReasonCode.LOOP_BREAKER: "Automation on this service is paused by the loop breaker (it is "
                             "frozen, or an automated action ran on it recently).",
    ReasonCode.RATE_LIMITED: "Too many automated actions ran in the last hour.",
    ReasonCode.APPROVAL_REQUIRED: "The policy wants a human to approve this action on this "
                                  "tier.",
    ReasonCode.ALLOWED: "The policy lets this action run without approval.",
}

OUTCOME_WORDS: dict[str, str] = {
    "execute": "runs automatically",
    "needs_approval": "needs approval",
    "blocked": "blocked",
}


def reason_words(code: str) -> str:
    """What a reason code means; an unknown code is shown as it is."""
    return REASON_WORDS.get(code, code.replace("_", " "))


def outcome_words(outcome: str | None) -> str:
    if outcome is None:
        return "awaiting triage"
    return OUTCOME_WORDS.get(outcome, outcome.replace("_", " "))


def age(since: datetime, now: datetime) -> str:
    """A short age such as ``45s``, ``12m``, ``3h 05m`` or ``2d 4h``."""
    seconds = max(0, int((now - since) / timedelta(seconds=1)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        return f"{minutes}m"
    if hours < 24:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{days}d {hours % 24}h"


def when(value: datetime | None) -> Markup:
    """A ``<time>`` element: a UTC time to the second, as people read it, which the
    console's script shows in the viewer's time zone (the UTC time stays its tooltip);
    empty when there is none."""
    if value is None:
        return Markup("")
    utc = value.astimezone(UTC)
    words = utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}" data-local>{}</time>').format(
        utc.isoformat(), words, words)
