"""Replay: a decision's recorded inputs, and deciding them again under another policy.

Pure. At every decision the running system records ``DecisionInputs`` (``inputs_json``);
``replay`` re-decides those records with a new policy from exactly what was recorded: no
model call, no store, no clock. ``inputs_from_json(inputs_json(x)) == x`` is what makes
replaying the policy in force change nothing.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warden.domain import (
    Decision,
    History,
    Incident,
    IncidentAlert,
    IncidentStatus,
    Severity,
)
from warden.policy._cases import decision_json
from warden.policy._decide import decide
from warden.policy._model import Policy
from warden.policy._proposal import parse_proposal

INPUTS_EVENT = "policy.inputs"
"""The audit event kind that holds one decision's inputs (``inputs_json``)."""


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    """Everything ``decide`` was given: the incident with the alerts it held at that
    moment, the model's raw reply, the history and the decision time (``decided_at``, the
    ``now`` ``decide`` was given)."""

    incident: Incident
    proposal_raw: str
    history: History
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class RecordedDecision:
    """One stored decision: where it was made (``triage``, ``execute``...), its inputs
    and the outcome and reasons it had (``decision_json`` shape)."""

    incident_id: int
    stage: str
    inputs: DecisionInputs
    before: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """``replayed`` decisions; ``changed``: each whose outcome or deciding reason differs
    under the new policy; ``summary``: the changes counted by ``before->after`` outcome."""

    replayed: int
    changed: tuple[Mapping[str, Any], ...]
    summary: Mapping[str, int]

    def as_json(self) -> dict[str, Any]:
        return {"replayed": self.replayed, "changed": [dict(c) for c in self.changed],
                "summary": dict(self.summary)}


def decide_inputs(inputs: DecisionInputs, policy: Policy) -> Decision:
    """The decision ``policy`` makes on ``inputs`` (the reply parsed with its categories)."""
    proposal = parse_proposal(inputs.proposal_raw, categories=policy.categories)
    return decide(inputs.incident, proposal, policy, inputs.history, inputs.decided_at)


def replay(records: Iterable[RecordedDecision], policy: Policy) -> ReplayResult:
    """Re-decide every record with ``policy``; list those whose outcome or deciding
    (first) reason code changes, in the order given."""
    changed: list[Mapping[str, Any]] = []
    summary: Counter[str] = Counter()
    count = 0
    for record in records:
        count += 1
        after = decision_json(decide_inputs(record.inputs, policy))
        before = record.before
        if _verdict(before) == _verdict(after):
            continue
        changed.append({
            "incident_id": record.incident_id, "stage": record.stage,
            "at": record.inputs.decided_at.isoformat(),
            "before": {"outcome": before.get("outcome"), "reasons": before.get("reasons", [])},
            "after": {"outcome": after["outcome"], "reasons": after["reasons"]},
        })
        summary[f"{before.get('outcome')}->{after['outcome']}"] += 1
    return ReplayResult(replayed=count, changed=tuple(changed), summary=dict(summary))


def _verdict(decision: Mapping[str, Any]) -> tuple[object, object]:
    reasons = decision.get("reasons") or [{}]
    return decision.get("outcome"), reasons[0].get("code")


def policy_digest(policy: Policy) -> str:
    """16 hex characters naming what ``policy`` decides with (its ``source`` aside), so a
    record says which policy made it; equal for the same file loaded in any process."""
    text = json.dumps(_canonical(dataclasses.replace(policy, source="")), sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(value: object) -> object:
    """JSON-able and independent of set order and hash seeds."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(str(_canonical(v)) for v in value)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, re.Pattern):
        return {"pattern": value.pattern, "flags": value.flags}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# Recording and reading back -------------------------------------------------------------

def inputs_json(inputs: DecisionInputs) -> dict[str, Any]:
    """``inputs`` as JSON; ``inputs_from_json`` gives the same value back."""
    incident, history = inputs.incident, inputs.history
    return {
        "incident": {
            "id": incident.id, "key": incident.key, "source": incident.source,
            "service": incident.service, "title": incident.title,
            "description": incident.description,
            "severity": incident.severity.value if incident.severity else None,
            "labels": dict(incident.labels), "status": incident.status.value,
            "alert_count": incident.alert_count,
            "first_seen": incident.first_seen.isoformat(),
            "last_seen": incident.last_seen.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
            "alerts": [{"title": a.title, "description": a.description,
                        "labels": dict(a.labels)} for a in incident.alerts],
        },
        "proposal_raw": inputs.proposal_raw,
        "history": {
            "automated_executions_last_hour": history.automated_executions_last_hour,
            "service_executions_last_hour": history.service_executions_last_hour,
            "last_automated_minutes_ago": history.last_automated_minutes_ago,
            "frozen": history.frozen,
            "deployed_versions": list(history.deployed_versions),
            "precedents": history.precedents,
        },
        "now": inputs.decided_at.isoformat(),
    }


def inputs_from_json(data: Mapping[str, Any]) -> DecisionInputs:
    """The inputs recorded by ``inputs_json``; ``ValueError`` (saying which key) when
    ``data`` is not such a record."""
    try:
        raw_incident, raw_history = data["incident"], data["history"]
        incident = Incident(
            id=int(raw_incident["id"]), key=str(raw_incident["key"]),
            source=str(raw_incident["source"]), service=str(raw_incident["service"]),
            title=str(raw_incident["title"]), description=str(raw_incident["description"]),
            severity=Severity(raw_incident["severity"]) if raw_incident["severity"] else None,
            labels=dict(raw_incident["labels"]),
            status=IncidentStatus(raw_incident["status"]),
            alert_count=int(raw_incident["alert_count"]),
            first_seen=_time(raw_incident["first_seen"]),
            last_seen=_time(raw_incident["last_seen"]),
            resolved_at=_time(raw_incident["resolved_at"]) if raw_incident["resolved_at"]
            else None,
            alerts=tuple(IncidentAlert(title=str(a["title"]),
                                       description=str(a["description"]),
                                       labels=dict(a["labels"]))
                         for a in raw_incident["alerts"]),
        )
        minutes = raw_history["last_automated_minutes_ago"]
        history = History(
            automated_executions_last_hour=int(raw_history["automated_executions_last_hour"]),
            service_executions_last_hour=int(raw_history["service_executions_last_hour"]),
            last_automated_minutes_ago=None if minutes is None else float(minutes),
            frozen=bool(raw_history["frozen"]),
            deployed_versions=tuple(str(v) for v in raw_history["deployed_versions"]),
            precedents=int(raw_history["precedents"]),
        )
        return DecisionInputs(incident=incident, proposal_raw=str(data["proposal_raw"]),
                              history=history, decided_at=_time(data["now"]))
    except KeyError as exc:
        raise ValueError(f"the recorded inputs lack {exc.args[0]!r}") from exc
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"the recorded inputs are not of the recorded shape: {exc}") from exc


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"a recorded time is not a string: {value!r}")
    moment = datetime.fromisoformat(value)
    if moment.utcoffset() is None:
        raise ValueError(f"a recorded time has no UTC offset: {value!r}")
    return moment
