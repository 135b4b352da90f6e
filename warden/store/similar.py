"""Incident memory: earlier incidents like this one, found by the database's own search
(SQLite FTS5 on the embedded store, PostgreSQL full-text search on the server), and how
often this alert fires on its service.

Identity is the ``alertname`` label, else the title. Service keys are compared as the
store keys them (ASCII lower case, policy.md *One service, one key*).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, distinct, func, select, text
from sqlalchemy.orm import Session

from warden.domain import service_key
from warden.store.tables import ApprovalRow, ExecutionRow, IncidentRow

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_WORD = re.compile(r"[A-Za-z0-9]{2,}")
_MAX_TERMS = 32


@dataclass(frozen=True, slots=True)
class PastIncident:
    """An earlier incident and what came of it. ``match`` says why it was chosen:
    ``same_alert`` (same service and identity) or ``similar_text``."""

    id: int
    service: str
    title: str
    match: str
    first_seen: datetime
    status: str
    proposal: dict[str, Any] | None
    decision: str | None
    verdicts: tuple[dict[str, str], ...]
    executions: tuple[dict[str, Any], ...]
    minutes_to_resolve: float | None

    def fixed_by(self) -> dict[str, Any] | None:
        """The last action that ran for real or in a dry run and verified healthy."""
        healthy = [e for e in self.executions if e["verification"] == "passed"]
        return healthy[-1]["action"] if healthy else None


def identity_of(labels: dict[str, str] | Any, title: str) -> str:
    return str((labels or {}).get("alertname") or title)


def _identity_column() -> ColumnElement[str]:
    alertname = func.nullif(IncidentRow.labels["alertname"].as_string(), "")
    return func.coalesce(alertname, IncidentRow.title)


def _service_key_column(session: Session) -> ColumnElement[str]:
    # ASCII lower case only, as domain.service_key: PostgreSQL's lower() folds more.
    if session.get_bind().dialect.name == "sqlite":
        return func.lower(IncidentRow.service)  # SQLite's lower() is ASCII-only
    return func.translate(IncidentRow.service, _UPPER, _UPPER.lower())


def search_terms(words: str) -> list[str]:
    """The distinct words of ``words`` (letters and digits, two or more), lower case:
    safe to put in either database's query syntax as they are."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(words)))[:_MAX_TERMS]


def similar_incidents(
    session: Session, *, incident_id: int, service: str, identity: str, words: str,
    before: datetime, limit: int = 3,
) -> list[PastIncident]:
    """Up to ``limit`` incidents that began before ``before`` (never ``incident_id``):
    the same service and identity first, most recent first, then the closest by text."""
    key_column = _service_key_column(session)
    same = session.execute(
        select(IncidentRow.id).where(
            key_column == service_key(service), _identity_column() == identity,
            IncidentRow.id != incident_id, IncidentRow.first_seen < before)
        .order_by(IncidentRow.first_seen.desc()).limit(limit)
    ).scalars().all()
    chosen = {i: "same_alert" for i in same}
    terms = search_terms(words)
    if len(chosen) < limit and terms:
        for found in _text_search(session, terms, exclude=[incident_id, *chosen],
                                  before=before, limit=limit - len(chosen)):
            chosen[found] = "similar_text"
    return _pasts(session, chosen)


def _text_search(session: Session, terms: Sequence[str], *, exclude: Sequence[int],
                 before: datetime, limit: int) -> list[int]:
    params = {"before": before, "limit": limit}
    excluded = ", ".join(str(int(i)) for i in exclude)
    if session.get_bind().dialect.name == "sqlite":
        statement = text(
            "SELECT incidents.id FROM incidents_fts JOIN incidents "
            "ON incidents.id = incidents_fts.rowid "
            f"WHERE incidents_fts MATCH :query AND incidents.id NOT IN ({excluded}) "
            "AND incidents.first_seen < :before "
            "ORDER BY bm25(incidents_fts), incidents.first_seen DESC LIMIT :limit")
        query = " OR ".join(f'"{t}"' for t in terms)
    else:
        # The same expression as migration 0008's GIN index, so the index serves it.
        statement = text(
            "SELECT id FROM incidents, to_tsquery('english', :query) AS q "
            "WHERE to_tsvector('english', title || ' ' || description) @@ q "
            f"AND id NOT IN ({excluded}) AND first_seen < :before "
            "ORDER BY ts_rank(to_tsvector('english', title || ' ' || description), q) DESC, "
            "first_seen DESC LIMIT :limit")
        query = " | ".join(terms)
    return [int(i) for i in session.execute(statement, {**params, "query": query}).scalars()]


def _pasts(session: Session, chosen: dict[int, str]) -> list[PastIncident]:
    """The chosen incidents (id → match), in the order given, three queries in all."""
    if not chosen:
        return []
    rows = {row.id: row for row in session.execute(
        select(IncidentRow).where(IncidentRow.id.in_(chosen))).scalars()}
    verdicts: dict[int, list[dict[str, str]]] = {i: [] for i in chosen}
    for a in session.execute(select(ApprovalRow).where(ApprovalRow.incident_id.in_(chosen))
                             .order_by(ApprovalRow.at, ApprovalRow.id)).scalars():
        verdicts[a.incident_id].append(
            {"approver": a.approver, "verdict": a.verdict, "reason": a.reason})
    executions: dict[int, list[dict[str, Any]]] = {i: [] for i in chosen}
    for e in session.execute(select(ExecutionRow).where(ExecutionRow.incident_id.in_(chosen))
                             .order_by(ExecutionRow.started_at, ExecutionRow.id)).scalars():
        executions[e.incident_id].append(
            {"action": e.action, "status": e.status, "dry_run": e.dry_run,
             "verification": (e.verification or {}).get("status")})
    pasts = []
    for incident_id, match in chosen.items():
        row = rows[incident_id]  # found by id a moment ago, in this transaction
        resolved = (None if row.resolved_at is None
                    else round((row.resolved_at - row.first_seen).total_seconds() / 60, 1))
        pasts.append(PastIncident(
            id=row.id, service=row.service, title=row.title, match=match,
            first_seen=row.first_seen, status=row.status, proposal=row.proposal,
            decision=row.decision_outcome, verdicts=tuple(verdicts[incident_id]),
            executions=tuple(executions[incident_id]), minutes_to_resolve=resolved))
    return pasts


def alert_counts(session: Session, *, incident_id: int, service: str, identity: str,
                 since: datetime, before: datetime) -> tuple[int, int]:
    """(incidents of this identity, all incidents) on the service that began in
    [``since``, ``before``), ``incident_id`` not counted."""
    window = select(func.count()).select_from(IncidentRow).where(
        _service_key_column(session) == service_key(service), IncidentRow.id != incident_id,
        IncidentRow.first_seen >= since, IncidentRow.first_seen < before)
    total = session.execute(window).scalar_one()
    same = session.execute(window.where(_identity_column() == identity)).scalar_one()
    return int(same), int(total)


def precedents(session: Session, *, incident_id: int, service: str, identity: str,
               action: str, before: datetime) -> int:
    """Earlier incidents of the same service and alert identity fixed by ``action`` with a
    verified healthy result (policy.md, *Precedent*, check 10b)."""
    return int(session.execute(
        select(func.count(distinct(IncidentRow.id)))
        .join(ExecutionRow, ExecutionRow.incident_id == IncidentRow.id)
        .where(_service_key_column(session) == service_key(service),
               _identity_column() == identity, IncidentRow.id != incident_id,
               IncidentRow.first_seen < before,
               ExecutionRow.action["name"].as_string() == action,
               ExecutionRow.verification["status"].as_string() == "passed")
    ).scalar_one())
