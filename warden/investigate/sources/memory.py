"""Incident memory: similar past incidents and what came of them, and how often this
alert fires on its service (PagerDuty's frequent / rare / new labels)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from warden.domain import service_key
from warden.investigate._evidence import Case, Evidence, EvidenceKind
from warden.store.similar import PastIncident, alert_counts, identity_of, similar_incidents

WINDOW = timedelta(days=30)
# PagerDuty's thresholds: at most 5% of the service's incidents is rare, 20% or more frequent.
RARE_SHARE = 0.05
FREQUENT_SHARE = 0.20


class Frequency(StrEnum):
    NEW = "new"
    RARE = "rare"
    OCCASIONAL = "occasional"
    FREQUENT = "frequent"


def frequency(same: int, total: int) -> Frequency:
    """The label for an alert seen ``same`` times among the service's ``total`` incidents
    in the window (this one not counted). Pure."""
    if same == 0 or total == 0:
        return Frequency.NEW
    share = same / total
    if share <= RARE_SHARE:
        return Frequency.RARE
    if share >= FREQUENT_SHARE:
        return Frequency.FREQUENT
    return Frequency.OCCASIONAL


def describe(past: PastIncident) -> str:
    """One line: what was proposed and decided, who said what, what ran, how it ended."""
    parts = [f"#{past.id} {past.title!r} ({past.match.replace('_', ' ')}, "
             f"{past.first_seen:%Y-%m-%d %H:%M}Z)"]
    proposal = past.proposal or {}
    action = proposal.get("suggested_action") or None
    parts.append(f"proposed {action['name'] if action else 'no action'}"
                 f" [{proposal.get('category') or 'untriaged'}]")
    if past.decision:
        parts.append(f"policy {past.decision}")
    parts += [f"{v['verdict']} by {v['approver']}" + (f" ({v['reason']})" if v["reason"] else "")
              for v in past.verdicts]
    parts += [f"ran {e['action'].get('name')}{' (dry run)' if e['dry_run'] else ''}: "
              f"{e['status']}, verification {e['verification'] or 'none'}"
              for e in past.executions]
    parts.append("unresolved" if past.minutes_to_resolve is None
                 else f"resolved in {past.minutes_to_resolve:g} min")
    return "; ".join(parts)


def past_json(past: PastIncident) -> dict[str, Any]:
    return {"id": past.id, "service": past.service, "title": past.title, "match": past.match,
            "first_seen": past.first_seen.isoformat(), "status": past.status,
            "proposal": past.proposal, "decision": past.decision,
            "verdicts": list(past.verdicts), "executions": list(past.executions),
            "minutes_to_resolve": past.minutes_to_resolve, "fixed_by": past.fixed_by()}


class MemorySource:
    """Reads the store, in its own short session."""

    name = "incident memory"
    kind = EvidenceKind.SIMILAR

    def __init__(self, session: Callable[[], AbstractContextManager[Session]], *,
                 timeout_s: float, limit: int = 3) -> None:
        self.session = session
        self.timeout_s = timeout_s
        self.limit = limit

    def gather(self, case: Case) -> Sequence[Evidence]:
        identity = identity_of(case.labels, case.title)
        with self.session() as session:
            similar = similar_incidents(
                session, incident_id=case.incident_id, service=case.service,
                identity=identity, words=f"{case.title} {case.description}",
                before=case.first_seen, limit=self.limit)
            same, total = alert_counts(session, incident_id=case.incident_id,
                                       service=case.service, identity=identity,
                                       since=case.now - WINDOW, before=case.now)
        label = frequency(same, total)
        lines = [describe(p) for p in similar] or ["no similar past incident"]
        return [Evidence(
            id=f"{self.kind.value}:{service_key(case.service)}", kind=self.kind,
            title=f"Similar past incidents ({label.value} on {case.service}: {same} of "
                  f"{total} incidents in 30 days)",
            summary="\n".join(lines),
            data={"frequency": label.value, "identity": identity, "same_alert_30d": same,
                  "service_incidents_30d": total,
                  "incidents": [past_json(p) for p in similar]})]
