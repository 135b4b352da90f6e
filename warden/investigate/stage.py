"""The investigate step's shell: read the incident, run the investigator, store the
evidence on the incident and in its audit log, once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
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


def investigate(session: SessionFactory, investigator: Investigator, *, incident_id: int,
                now: datetime) -> tuple[Evidence, ...]:
    """The incident's evidence: collected and stored the first time, read back after (a
    retried triage step does not query again, and everyone sees the same items)."""
    with session() as s:
        row = s.get(IncidentRow, incident_id)
        if row is None:
            return ()
        if row.evidence is not None:
            return tuple(Evidence.from_json(item) for item in row.evidence)
        case = Case(
            incident_id=row.id, service=row.service, title=row.title,
            description=row.description, labels=dict(row.labels or {}),
            first_seen=row.first_seen, now=now,
            alerts=tuple(_seen(a) for a in s.execute(
                select(AlertRow).where(AlertRow.incident_id == incident_id)
                .order_by(AlertRow.id)).scalars()))
    evidence = investigator.collect(case)
    with session() as s:
        # The append lock before the incident's row, the order every writer takes them in
        # (audit.hold_append_lock), so this never deadlocks with the ingest writer.
        audit.hold_append_lock(s)
        row = s.get(IncidentRow, incident_id)
        if row is None:
            return evidence
        if row.evidence is not None:  # another worker stored its items first: those count
            return tuple(Evidence.from_json(item) for item in row.evidence)
        row.evidence = [item.as_json() for item in evidence]
        row.evidence_at = now
        audit.record(s, incident_id=incident_id, actor="investigate",
                     kind="investigate.collected",
                     data={"items": [{"id": i.id, "kind": i.kind.value, "error": i.error}
                                     for i in evidence]},
                     now=now)
    return evidence


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
