"""What the incident pages show, read from the store in one transaction per page.

Pages read at most ``ALERTS_SHOWN`` alert payloads of an incident (the first and the most
recent ones): a flood of thousands folds into one incident, and the page must stay
usable; the JSON API has every one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from warden.approval import digest_of
from warden.changes import RecordedChange, changes_before
from warden.domain import ApprovalChannel, service_key
from warden.store.queries import list_incidents
from warden.store.tables import (
    AlertRow,
    ApprovalRow,
    AuditRow,
    ExecutionRow,
    FreezeRow,
    IncidentRow,
    LedgerRow,
)
from warden.web.console._words import age, outcome_words, reason_words

if TYPE_CHECKING:
    from warden.app import Warden

ALERTS_SHOWN = 50
EVENTS_SHOWN = 200
PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class IncidentLine:
    """One row of the incidents list."""

    id: int
    title: str
    service: str
    tier: str
    status: str
    category: str
    severity: str
    alert_count: int
    age: str
    first_seen: str
    outcome: str
    outcome_words: str
    approval_state: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None


@dataclass(frozen=True, slots=True)
class IncidentList:
    """One page of the list: ``lines`` start at the ``offset``-th match of ``total``."""

    lines: list[IncidentLine]
    total: int
    offset: int
    limit: int
    services: list[str]

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    @property
    def next_offset(self) -> int | None:
        following = self.offset + self.limit
        return following if following < self.total else None


def incident_list(warden: Warden, *, status: str | None, service: str | None,
                  search: str | None, offset: int, limit: int = PAGE_SIZE) -> IncidentList:
    """One page of the incidents matching the filters, newest first, with the services to
    pick from."""
    policy = warden.policy.current
    now = warden.clock()
    with warden.store.session() as session:
        page = list_incidents(session, status=status, service=service, search=search,
                              limit=limit, offset=offset)
        services = list(session.execute(
            select(IncidentRow.service).distinct().order_by(IncidentRow.service).limit(500)
        ).scalars())
    lines = [
        IncidentLine(
            id=row.id, title=row.title, service=row.service, tier=policy.tier_of(row.service),
            status=row.status, category=_category(row.proposal),
            severity=row.severity or (row.proposal or {}).get("severity") or "",
            alert_count=row.alert_count, age=age(row.first_seen, now),
            first_seen=row.first_seen.isoformat(), outcome=row.decision_outcome or "pending",
            outcome_words=outcome_words(row.decision_outcome),
            approval_state=row.approval_state or "",
            acknowledged_by=row.acknowledged_by, acknowledged_at=row.acknowledged_at,
        )
        for row in page.items
    ]
    return IncidentList(lines, page.total, offset, limit, services)


def _category(proposal: dict[str, Any] | None) -> str:
    if proposal is None:
        return ""
    if "malformed" in proposal:
        return "malformed reply"
    return str(proposal.get("category") or "")


@dataclass(frozen=True, slots=True)
class AlertView:
    row: AlertRow
    pretty: str


@dataclass(frozen=True, slots=True)
class ReasonView:
    code: str
    words: str
    detail: str


@dataclass(frozen=True, slots=True)
class ChangeView:
    """A change shown beside the raw alerts: the change, and how long before the first."""

    recorded: RecordedChange
    before_first_alert: str


@dataclass(frozen=True, slots=True)
class IncidentPage:
    """Everything the detail page shows about one incident."""

    incident: IncidentRow
    tier: str
    age: str
    alerts: list[AlertView]
    alerts_hidden: int
    reasons: list[ReasonView]
    approvals: list[ApprovalRow]
    executions: list[ExecutionRow]
    calls: list[LedgerRow]
    cost_usd: float
    events: list[AuditRow]
    freeze: FreezeRow | None
    approvers: tuple[str, ...]
    quorum: int
    console_counts: bool
    digest: str | None
    """The current decision's digest: the form sends it, so a verdict judges what was shown."""
    policy_mode: str
    expired: bool
    changes: list[ChangeView]
    change_lookback_minutes: float

    @property
    def gap_after(self) -> int | None:
        """After how many shown alerts the hidden ones would be, when some are hidden."""
        return ALERTS_SHOWN // 2 if self.alerts_hidden > 0 else None

    @property
    def awaiting_approval(self) -> bool:
        return (self.incident.decision_outcome == "needs_approval"
                and self.incident.approval_state == "pending" and not self.expired)


def incident_page(warden: Warden, incident_id: int) -> IncidentPage | None:
    """The detail page's data, or None when there is no such incident."""
    policy = warden.policy.current
    with warden.store.session() as session:
        row = session.get(IncidentRow, incident_id)
        if row is None:
            return None
        alerts = _alerts(session, incident_id)
        total = session.execute(
            select(func.count()).select_from(AlertRow).where(AlertRow.incident_id == incident_id)
        ).scalar_one()
        approvals = _all(session, ApprovalRow, ApprovalRow.incident_id == incident_id)
        executions = _all(session, ExecutionRow, ExecutionRow.incident_id == incident_id)
        calls = _all(session, LedgerRow, LedgerRow.incident_id == incident_id)
        events = list(session.execute(
            select(AuditRow).where(AuditRow.incident_id == incident_id)
            .order_by(AuditRow.id).limit(EVENTS_SHOWN)
        ).scalars())
        freeze = session.get(FreezeRow, service_key(row.service))
        lookback = warden.settings.change_lookback_minutes
        changes = changes_before(session, row.service, row.first_seen, lookback)
    tier = policy.tier_of(row.service)
    decision = row.decision or {}
    now = warden.clock()
    return IncidentPage(
        incident=row, tier=tier, age=age(row.first_seen, now),
        alerts=[AlertView(a, json.dumps(a.raw, indent=2, ensure_ascii=False)) for a in alerts],
        alerts_hidden=total - len(alerts),
        reasons=[
            ReasonView(code=str(r.get("code", "")), words=reason_words(str(r.get("code", ""))),
                       detail=str(r.get("detail", "")))
            for r in decision.get("reasons", [])
        ],
        approvals=approvals, executions=executions, calls=calls,
        cost_usd=round(sum(c.cost_usd for c in calls), 6), events=events, freeze=freeze,
        approvers=policy.approvers_for(tier), quorum=policy.quorum_for(tier),
        console_counts=ApprovalChannel.CONSOLE in policy.channels_for(tier),
        digest=digest_of(row),
        policy_mode=policy.mode,
        # The approval stage marks a request expired only when someone next looks at it.
        expired=(row.approval_state == "pending" and row.approval_expires_at is not None
                 and row.approval_expires_at <= now),
        changes=[ChangeView(c, age(c.change.at, row.first_seen)) for c in changes],
        change_lookback_minutes=lookback,
    )


def _alerts(session: Any, incident_id: int) -> list[AlertRow]:
    """The first and the latest alerts, ``ALERTS_SHOWN`` in all, oldest first."""
    half = ALERTS_SHOWN // 2
    where = AlertRow.incident_id == incident_id
    first = list(session.execute(
        select(AlertRow).where(where).order_by(AlertRow.id).limit(half)
    ).scalars())
    latest = list(session.execute(
        select(AlertRow).where(where).order_by(AlertRow.id.desc()).limit(ALERTS_SHOWN - half)
    ).scalars())
    seen = {a.id for a in first}
    return first + sorted((a for a in latest if a.id not in seen), key=lambda a: a.id)


def _all(session: Any, table: Any, where: Any) -> list[Any]:
    return list(session.execute(select(table).where(where).order_by(table.id)).scalars())
