"""Read-side queries shared by the JSON API, the console, the CLI and reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warden.store.tables import (
    AlertRow,
    ApprovalRow,
    DeliveryRow,
    ExecutionRow,
    IncidentRow,
    LedgerRow,
)


@dataclass(frozen=True, slots=True)
class IncidentPage:
    items: list[IncidentRow]
    total: int


def list_incidents(
    session: Session, *, status: str | None = None, service: str | None = None,
    limit: int = 100, offset: int = 0,
) -> IncidentPage:
    """Incidents, newest first, filtered by status and service."""
    where: list[Any] = []
    if status:
        where.append(IncidentRow.status == status)
    if service:
        where.append(IncidentRow.service == service)
    total = session.execute(
        select(func.count()).select_from(IncidentRow).where(*where)
    ).scalar_one()
    items = session.execute(
        select(IncidentRow).where(*where).order_by(IncidentRow.id.desc())
        .limit(limit).offset(offset)
    ).scalars().all()
    return IncidentPage(list(items), total)


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    incident: IncidentRow
    alerts: list[AlertRow]
    deliveries: list[DeliveryRow]
    approvals: list[ApprovalRow]
    executions: list[ExecutionRow]
    ledger: list[LedgerRow]


def incident_detail(session: Session, incident_id: int) -> IncidentDetail | None:
    """An incident with everything recorded about it, or None when there is no such id."""
    incident = session.get(IncidentRow, incident_id)
    if incident is None:
        return None
    alerts = list(session.execute(
        select(AlertRow).where(AlertRow.incident_id == incident_id).order_by(AlertRow.id)
    ).scalars())
    delivery_ids = sorted({a.delivery_id for a in alerts})
    deliveries = list(session.execute(
        select(DeliveryRow).where(DeliveryRow.id.in_(delivery_ids[:50])).order_by(DeliveryRow.id)
    ).scalars())
    approvals = list(session.execute(
        select(ApprovalRow).where(ApprovalRow.incident_id == incident_id)
        .order_by(ApprovalRow.id)
    ).scalars())
    executions = list(session.execute(
        select(ExecutionRow).where(ExecutionRow.incident_id == incident_id)
        .order_by(ExecutionRow.id)
    ).scalars())
    ledger = list(session.execute(
        select(LedgerRow).where(LedgerRow.incident_id == incident_id).order_by(LedgerRow.id)
    ).scalars())
    return IncidentDetail(incident, alerts, deliveries, approvals, executions, ledger)
