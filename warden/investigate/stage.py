"""The investigate step's shell: read the incident, run the investigator, store the
evidence on the incident and in its audit log, once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from re import Pattern

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden import audit
from warden.config.settings import Settings
from warden.investigate._evidence import AlertSeen, Case, Evidence, EvidenceSource
from warden.investigate.investigator import Investigator
from warden.investigate.sources.memory import MemorySource
from warden.investigate.sources.prometheus import PrometheusSource
from warden.investigate.sources.runbook import RunbookSource
from warden.store.tables import AlertRow, IncidentRow

SessionFactory = Callable[[], AbstractContextManager[Session]]


def build_investigator(settings: Settings, session: SessionFactory,
                       redact_patterns: Sequence[Pattern[str]] = ()) -> Investigator:
    """The sources the settings turn on: memory and runbooks always (a runbook that is
    not allowed is shown as a link), Prometheus when its URL is set."""
    deadline_s = settings.evidence_timeout_s
    sources: list[EvidenceSource] = [
        MemorySource(session, timeout_s=deadline_s),
        RunbookSource(prefixes=settings.runbook_url_prefixes, directory=settings.runbook_dir,
                      timeout_s=deadline_s),
    ]
    if settings.prometheus_url:
        sources.append(PrometheusSource(
            settings.prometheus_url, timeout_s=min(settings.prometheus_timeout_s, deadline_s)))
    return Investigator(sources, deadline_s=deadline_s,
                        max_item_bytes=settings.evidence_max_item_bytes,
                        redact_patterns=redact_patterns)


@dataclass(frozen=True, slots=True)
class Collected:
    """An incident's evidence, and whether it is new (collected now, not stored yet)."""

    evidence: tuple[Evidence, ...]
    new: bool


def collect(session: SessionFactory, investigator: Investigator, *, incident_id: int,
            now: datetime) -> Collected:
    """The incident's evidence: the stored items when there are (a retried triage step
    does not query again, and everyone sees the same items), else collected now; writes
    nothing (``keep`` stores new items)."""
    with session() as s:
        row = s.get(IncidentRow, incident_id)
        if row is None:
            return Collected((), new=False)
        if row.evidence is not None:
            return Collected(_stored(row), new=False)
        case = Case(
            incident_id=row.id, service=row.service, title=row.title,
            description=row.description, labels=dict(row.labels or {}),
            first_seen=row.first_seen, now=now,
            alerts=tuple(_seen(a) for a in s.execute(
                select(AlertRow).where(AlertRow.incident_id == incident_id)
                .order_by(AlertRow.id)).scalars()))
    return Collected(investigator.collect(case), new=True)


def keep(s: Session, collected: Collected, *, incident_id: int,
         now: datetime) -> tuple[Evidence, ...]:
    """Store newly collected evidence on the incident and in its audit log, in the
    caller's transaction, which holds the append lock (``audit.hold_append_lock``) before
    any incident row, the order every writer takes them in. Returns the items that count:
    another worker's, when it stored its own first."""
    if not collected.new:
        return collected.evidence
    row = s.get(IncidentRow, incident_id)
    if row is None:
        return collected.evidence
    if row.evidence is not None:
        return _stored(row)
    row.evidence = [item.as_json() for item in collected.evidence]
    row.evidence_at = now
    audit.record(s, incident_id=incident_id, actor="investigate",
                 kind="investigate.collected",
                 data={"items": [{"id": i.id, "kind": i.kind.value, "error": i.error}
                                 for i in collected.evidence]},
                 now=now)
    return collected.evidence


def investigate(session: SessionFactory, investigator: Investigator, *, incident_id: int,
                now: datetime) -> tuple[Evidence, ...]:
    """The incident's evidence, collected and stored the first time (``collect`` and
    ``keep`` in a transaction of their own), read back after."""
    collected = collect(session, investigator, incident_id=incident_id, now=now)
    if not collected.new:
        return collected.evidence
    with session() as s:
        audit.hold_append_lock(s)
        return keep(s, collected, incident_id=incident_id, now=now)


def _stored(row: IncidentRow) -> tuple[Evidence, ...]:
    return tuple(Evidence.from_json(item) for item in row.evidence or ())


def _seen(row: AlertRow) -> AlertSeen:
    raw = row.raw if isinstance(row.raw, dict) else {}
    annotations = raw.get("annotations")
    # Alertmanager's alerts carry it in the body; `warden eval` records in the labels.
    generator = raw.get("generatorURL") or (row.labels or {}).get("generatorURL")
    return AlertSeen(
        title=row.title, labels=dict(row.labels or {}),
        annotations={str(k): str(v) for k, v in annotations.items()}
        if isinstance(annotations, dict) else {},
        generator_url=generator if isinstance(generator, str) else None,
        starts_at=row.starts_at)
