"""Cases for ``warden policy check``: a case's JSON -> ``decide``'s inputs, and back.

The case format is the contract's (policy.md, "The command line"). A case that cannot be
evaluated raises ``PolicyCaseError``; an odd model reply never does, it is just a
malformed proposal. The clock is the caller's: ``default_now`` is passed in.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from warden.domain import Decision, History, Incident, IncidentAlert, IncidentStatus, Severity
from warden.errors import PolicyCaseError
from warden.policy._decide import decide
from warden.policy._model import Policy
from warden.policy._proposal import parse_proposal

_HISTORY_KEYS = frozenset(
    {
        "automated_executions_last_hour",
        "service_executions_last_hour",
        "last_automated_minutes_ago",
        "frozen",
        "deployed_versions",
        "precedents",
    }
)
_SEVERITIES = {s.value: s for s in Severity}


def check_case_line(
    line: str | bytes, policy: Policy, *, default_now: datetime, where: str
) -> dict[str, Any]:
    """Evaluate one line of ``--cases``; returns ``{"id", "outcome", "reasons", "action"}``.

    Raises ``PolicyCaseError(where, reason)`` when the line is not a usable case.
    """
    try:
        case = json.loads(line)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise PolicyCaseError(where, f"not a JSON object: {exc}") from exc
    if not isinstance(case, dict):
        raise PolicyCaseError(where, "not a JSON object")
    return {"id": case.get("id"), **decision_json(check_case(case, policy, default_now, where))}


def check_case(
    case: Mapping[str, Any], policy: Policy, default_now: datetime, where: str
) -> Decision:
    """Decide one case given as a mapping with the contract's keys (others are ignored)."""
    return check_reply(
        case.get("alert"),
        reply_of(case, where),
        policy,
        history=case.get("history"),
        now=parse_now(case.get("now"), where) or default_now,
        where=where,
        key=str(case.get("id")),
    )


def check_reply(
    alert: object,
    raw: str | bytes,
    policy: Policy,
    *,
    history: object,
    now: datetime,
    where: str,
    key: str = "case",
) -> Decision:
    """Decide the model's ``raw`` reply to ``alert`` (a normalised alert as JSON data),
    with ``history`` as in a case (None: nothing ran before)."""
    return decide(
        incident_from_alert(alert, now=now, key=key, where=where),
        parse_proposal(raw, categories=policy.categories),
        policy,
        history_from(history, where),
        now,
    )


def reply_of(case: Mapping[str, Any], where: str) -> str | bytes:
    """The model's raw reply: ``proposal_raw`` text, or ``proposal_raw_b64`` bytes."""
    text, b64 = case.get("proposal_raw"), case.get("proposal_raw_b64")
    if (text is None) == (b64 is None):
        raise PolicyCaseError(where, "give exactly one of proposal_raw and proposal_raw_b64")
    if text is not None:
        if not isinstance(text, str):
            raise PolicyCaseError(where, "proposal_raw must be a string")
        return text
    if not isinstance(b64, str):
        raise PolicyCaseError(where, "proposal_raw_b64 must be a base64 string")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PolicyCaseError(where, f"proposal_raw_b64 is not base64: {exc}") from exc


def incident_from_alert(alert: object, *, now: datetime, key: str, where: str) -> Incident:
    """An open incident from a case's ``alert``: one normalised alert (``service``
    required; ``title``, ``description``, ``labels`` and ``severity`` optional; other keys
    ignored), or the incident form ``{"service", "alerts": [{"title", "description",
    "labels"}, ...]}``, judged as a whole (policy.md, "The incident, not the first alert")."""
    if not isinstance(alert, dict):
        raise PolicyCaseError(where, "alert must be an object")
    service = alert.get("service")
    if not isinstance(service, str):
        raise PolicyCaseError(where, "alert.service must be a string")
    if "alerts" in alert:
        listed = alert["alerts"]
        if not isinstance(listed, list) or not listed:
            raise PolicyCaseError(where, "alert.alerts must be a non-empty list of alerts")
        alerts = tuple(
            _alert_text(item, f"alert.alerts[{i}]", where) for i, item in enumerate(listed)
        )
    else:
        alerts = (_alert_text(alert, "alert", where),)
    first = alerts[0]
    severity = alert.get("severity")
    return Incident(
        id=0,
        key=key,
        source=str(alert.get("source", "case")),
        service=service,
        title=first.title,
        description=first.description,
        severity=_SEVERITIES.get(severity) if isinstance(severity, str) else None,
        labels=first.labels,
        status=IncidentStatus.OPEN,
        alert_count=len(alerts),
        first_seen=now,
        last_seen=now,
        alerts=alerts,
    )


def _alert_text(alert: object, name: str, where: str) -> IncidentAlert:
    if not isinstance(alert, dict):
        raise PolicyCaseError(where, f"{name} must be an object")
    title, description = alert.get("title", ""), alert.get("description", "")
    if not isinstance(title, str) or not isinstance(description, str):
        raise PolicyCaseError(where, f"{name}.title and {name}.description must be strings")
    labels = alert.get("labels", {})
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise PolicyCaseError(where, f"{name}.labels must be an object of strings")
    return IncidentAlert(title=title, description=description, labels=labels)


def history_from(obj: object, where: str) -> History:
    """The case's ``history``: each key optional, absent or null meaning 0, never, false.

    Unknown keys are refused: a misspelt ``frozen`` would silently make a case more
    permissive than its author meant.
    """
    if obj is None:
        return History()
    if not isinstance(obj, dict):
        raise PolicyCaseError(where, "history must be an object")
    if unknown := sorted(obj.keys() - _HISTORY_KEYS):
        raise PolicyCaseError(where, f"unknown history keys: {', '.join(unknown)}")
    counts = {}
    for name in ("automated_executions_last_hour", "service_executions_last_hour", "precedents"):
        value = obj.get(name)
        if value is None:
            value = 0
        if type(value) is not int or value < 0:
            raise PolicyCaseError(where, f"history.{name} must be a whole number >= 0")
        counts[name] = value
    minutes = obj.get("last_automated_minutes_ago")
    if minutes is not None and (type(minutes) not in (int, float) or not math.isfinite(minutes)):
        raise PolicyCaseError(where, "history.last_automated_minutes_ago must be a number or null")
    frozen = obj.get("frozen")
    if frozen is not None and type(frozen) is not bool:
        raise PolicyCaseError(where, "history.frozen must be true or false")
    versions = obj.get("deployed_versions")
    if versions is None:
        versions = []
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise PolicyCaseError(where, "history.deployed_versions must be a list of strings")
    return History(
        automated_executions_last_hour=counts["automated_executions_last_hour"],
        service_executions_last_hour=counts["service_executions_last_hour"],
        last_automated_minutes_ago=None if minutes is None else float(minutes),
        frozen=bool(frozen),
        deployed_versions=tuple(versions),
        precedents=counts["precedents"],
    )


def parse_now(value: object, where: str) -> datetime | None:
    """A case's ``now`` (ISO-8601 with a UTC offset), or None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise PolicyCaseError(where, f"now is not an ISO-8601 time: {exc}") from exc
    if not isinstance(value, datetime):
        raise PolicyCaseError(where, "now must be an ISO-8601 string")
    if value.utcoffset() is None:
        raise PolicyCaseError(where, "now needs a UTC offset (e.g. Z): a freeze is an instant")
    return value


def decision_json(decision: Decision) -> dict[str, Any]:
    """``{"outcome", "reasons": [{"code", "detail"}], "action": {...} | None}``."""
    action = decision.action
    return {
        "outcome": decision.outcome.value,
        "reasons": [{"code": r.code.value, "detail": r.detail} for r in decision.reasons],
        "action": None
        if action is None
        else {"name": action.name, "service": action.service, "params": dict(action.params)},
    }
