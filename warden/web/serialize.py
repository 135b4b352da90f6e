"""Rows to the JSON the API returns (and the console and reports read)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from warden.approval import digest_of
from warden.changes import RecordedChange
from warden.store.queries import IncidentDetail
from warden.store.tables import (
    AlertRow,
    ApprovalRow,
    ExecutionRow,
    IncidentRow,
    LedgerRow,
)
from warden.words import SHADOW_NOTE, is_shadow


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _what_it_says(row: IncidentRow | AlertRow) -> dict[str, Any]:
    """The fields an incident shares with its alerts (the incident's are its first alert's)."""
    return {"service": row.service, "title": row.title, "description": row.description,
            "severity": row.severity, "labels": row.labels, "status": row.status}


def incident_json(row: IncidentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "fingerprint": row.key,
        "source": row.source,
        **_what_it_says(row),
        "alert_count": row.alert_count,
        "first_seen": _iso(row.first_seen),
        "last_seen": _iso(row.last_seen),
        "resolved_at": _iso(row.resolved_at),
        "acknowledged_by": row.acknowledged_by,
        "acknowledged_at": _iso(row.acknowledged_at),
        "category": (row.proposal or {}).get("category"),
        "decision_outcome": row.decision_outcome,
        "approval_state": row.approval_state,
        "pending_step": row.pending_step,
        "caused_by_incident_id": row.caused_by_incident_id,
    }


def alert_json(row: AlertRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "fingerprint": row.fingerprint,
        **_what_it_says(row),
        "starts_at": _iso(row.starts_at),
        "ends_at": _iso(row.ends_at),
        "received_at": _iso(row.received_at),
        "raw": row.raw,
    }


def approval_json(row: ApprovalRow) -> dict[str, Any]:
    return {"approver": row.approver, "verdict": row.verdict, "reason": row.reason,
            "channel": row.channel, "at": _iso(row.at)}


def execution_json(row: ExecutionRow) -> dict[str, Any]:
    return {
        "id": row.id, "action": row.action, "executor": row.executor, "status": row.status,
        "automated": row.automated, "dry_run": row.dry_run, "output": row.output,
        "started_at": _iso(row.started_at), "finished_at": _iso(row.finished_at),
        "verification": row.verification,
    }


def ledger_json(row: LedgerRow) -> dict[str, Any]:
    return {
        "provider": row.provider, "model": row.model, "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens, "cost_usd": row.cost_usd,
        "latency_ms": row.latency_ms, "outcome": row.outcome, "error": row.error,
        "at": _iso(row.at),
    }


def incident_detail_json(
    detail: IncidentDetail, *, changes: Sequence[RecordedChange]
) -> dict[str, Any]:
    """The incident with its records; ``changes`` are those shown as its evidence."""
    row = detail.incident
    body = incident_json(row)
    body.update(
        alerts=[alert_json(a) for a in detail.alerts],
        proposal=None if row.proposal is None else {
            **row.proposal, "raw": row.proposal_raw, "provider": row.triage_provider,
            "model": row.triage_model, "note": row.triage_note,
            "triaged_at": _iso(row.triaged_at),
        },
        decision=None if row.decision is None else {
            **row.decision, "digest": digest_of(row),
            "shadow_note": SHADOW_NOTE if is_shadow(row.decision) else None},
        approval={"state": row.approval_state, "expires_at": _iso(row.approval_expires_at)},
        approvals=[approval_json(a) for a in detail.approvals],
        executions=[execution_json(e) for e in detail.executions],
        model_calls=[ledger_json(c) for c in detail.ledger],
        cost_usd=round(sum(c.cost_usd for c in detail.ledger), 6),
        changes=[incident_change_json(c, row.first_seen) for c in changes],
        evidence=row.evidence,
        evidence_at=_iso(row.evidence_at),
    )
    return body


def change_json(recorded: RecordedChange) -> dict[str, Any]:
    change = recorded.change
    return {
        "id": recorded.id, "service": change.service, "version": change.version,
        "kind": str(change.kind), "summary": change.summary, "at": _iso(change.at),
        "source": change.source, "author": change.author, "link": change.link,
    }


def incident_change_json(recorded: RecordedChange, first_alert_at: datetime) -> dict[str, Any]:
    """A change shown as an incident's evidence: also how long before its first alert."""
    before = (first_alert_at - recorded.change.at).total_seconds() / 60
    return {**change_json(recorded), "minutes_before_first_alert": round(before, 1)}
