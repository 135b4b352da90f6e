"""The database schema (SQLAlchemy 2 declarative). Migrations in ``migrations/`` create it.

Times are stored as timezone-aware UTC. Incident progress lives in its own columns
(``pending_step``, ``decision_outcome``, ``approval_state``), never in ``status``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from warden.domain import service_key

# SQLite's INTEGER PRIMARY KEY is the rowid only when spelled INTEGER; BIGINT elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class DeliveryRow(Base):
    """One accepted request body, verbatim."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    content_type: Mapped[str] = mapped_column(String(255), default="")
    body: Mapped[bytes] = mapped_column(LargeBinary)


class AlertContent:
    """What an alert says, as its source sent it: stored with each alert, and with the
    incident it opens (an incident keeps its first alert's)."""

    source: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class IncidentRow(AlertContent, Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # At most one open incident per key, enforced by the database across replicas.
        Index(
            "uq_incidents_open_key",
            "key",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_incidents_pending", "pending_step", "lease_expires_at"),
        Index("ix_incidents_service_status", "service", "status"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    alert_count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    caused_by_incident_id: Mapped[int | None] = mapped_column(Id, nullable=True)
    # Someone took the incident on; its own field, since the status is only open|resolved.
    acknowledged_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # Work for the worker: which step is due, and who holds it for how long.
    pending_step: Mapped[str | None] = mapped_column(String(16), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    step_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # Triage: the raw reply, the parsed proposal and who produced it.
    triaged_severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    proposal_raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    proposal: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    triage_provider: Mapped[str | None] = mapped_column(String(32), nullable=True)
    triage_model: Mapped[str | None] = mapped_column(String(255), nullable=True)
    triage_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # The policy's decision and the approval it may wait for.
    decision_outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approval_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    approval_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # What the investigate stage found, redacted: a list of evidence items (issue 18).
    evidence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    evidence_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AlertRow(AlertContent, Base):
    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("source", "dedup_key", name="uq_alerts_source_dedup"),
        Index("ix_alerts_incident", "incident_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    dedup_key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApprovalRow(Base):
    """One person's verdict on one decision (``decision_digest``): a second verdict from
    the same person on the same decision is refused by the unique index, whatever the
    race (rows from before revision 0004 have no digest and count for nothing)."""

    __tablename__ = "approvals"
    __table_args__ = (
        Index("ix_approvals_incident", "incident_id"),
        UniqueConstraint("incident_id", "decision_digest", "approver",
                         name="uq_approvals_one_verdict"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    approver: Mapped[str] = mapped_column(String(255))
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    decision_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)


def _service_key_of_row(context: Any) -> str:
    return service_key(context.get_current_parameters()["service"])


class ExecutionRow(Base):
    """One side effect. The row is written (status started) before the side effect runs.

    ``service`` is the name as sent; ``service_key`` (derived from it on insert) is what
    the policy's limits and the loop breaker count by (policy.md, "One service, one key").
    """

    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_service_key_at", "service_key", "started_at"),
        Index("ix_executions_incident", "incident_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    service: Mapped[str] = mapped_column(String(255))
    service_key: Mapped[str] = mapped_column(String(255), default=_service_key_of_row)
    action: Mapped[dict[str, Any]] = mapped_column(JSON)
    executor: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    automated: Mapped[bool] = mapped_column(Boolean)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    output: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


# ``LedgerRow.outcome`` of a call taken against the limits but not yet answered.
LEDGER_RESERVED = "reserved"


class LedgerRow(Base):
    """One model call, successful or not: the cost ledger and the model-call rate limit.

    ``service`` is the incident's service key, so every spelling counts as one service."""

    __tablename__ = "cost_ledger"
    __table_args__ = (
        Index("ix_ledger_at", "at"),
        Index("ix_ledger_service_at", "service", "at"),
        Index("ix_ledger_incident", "incident_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(Id, nullable=True)
    service: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(255))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditRow(Base):
    """Append-only, hash-chained: ``hash`` covers the event and ``prev_hash``."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_incident", "incident_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(Id, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class FreezeRow(Base):
    """A service whose automation is frozen by the loop breaker until a human lifts it.

    ``service`` is the service key (``warden.domain.service_key``): a freeze holds for
    every spelling of the name."""

    __tablename__ = "freezes"
    service: Mapped[str] = mapped_column(String(255), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    frozen_by: Mapped[str] = mapped_column(String(255))
    incident_id: Mapped[int | None] = mapped_column(Id, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChangeRow(Base):
    """One change event (a deploy, a config or flag change...) reported for a service.

    ``service_key`` is the ASCII-lower-cased ``service``: changes sent under any case of a
    name count for one service. A sender's redelivery has the same ``(source,
    sender_key)`` and is stored once.
    """

    __tablename__ = "changes"
    __table_args__ = (
        UniqueConstraint("source", "sender_key", name="uq_changes_source_sender_key"),
        Index("ix_changes_service_key_at", "service_key", "at"),
        Index("ix_changes_at", "at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"))
    source: Mapped[str] = mapped_column(String(64))
    sender_key: Mapped[str] = mapped_column(String(128))
    service: Mapped[str] = mapped_column(String(255))
    service_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[str | None] = mapped_column(String(255), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(255), nullable=True)
    link: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
class SessionRow(Base):
    """A signed-in console user. The cookie holds a random id; the store keeps only its
    SHA-256, so a database reader cannot take over a session, and every replica sees a
    sign-out at once (the row is deleted)."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_expires_at", "expires_at"),)
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the session id and the API token used to sign in: rotating or removing
    # the token ends the session, and without the id the tag says nothing about the token.
    token_tag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
