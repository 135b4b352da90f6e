"""The ``notify`` step: humans always hear what the machine would not do, or could not.

It tells the on-call channel about the incident's latest event that needs a human: a
decision that waits for approval or is blocked (at triage or at a re-check), an expired
request, a failed or unknown execution, a failed health check. The message goes through
the ``notify`` executor (a webhook; logged when none is set) and is audited either way,
so the console shows it. Delivery is at least once: a crash after sending and before
recording may send it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden import audit
from warden.approval import ApprovalState, digest_of, expire_if_due
from warden.config import Settings
from warden.domain import service_key
from warden.errors import ExecutorError
from warden.execute.executors.notify import NotifyExecutor
from warden.execute.executors.slack import SlackNotifier, alert_excerpt, console_url
from warden.execute.run import idempotency_key
from warden.loop_breaker import freeze_if_realerted
from warden.pipeline.stage import Lease, StepResult, finished
from warden.policy import Policy
from warden.redact import compile_patterns, redact
from warden.store import AlertRow, AuditRow, ExecutionRow, FreezeRow, IncidentRow, Store
from warden.words import NOTHING_SUGGESTED, SHADOW_NOTE, is_shadow, nothing_suggested

# The events a human is told about, newest first wins.
ANNOUNCED_KINDS = (
    "policy.decided", "policy.rechecked", "approval.expired", "execution.skipped",
    "execution.finished", "execution.unknown", "verify.failed",
)
# One evidence item a line in a message; the console and the JSON hold the whole item.
_EVIDENCE_LINE_CHARS = 300


@dataclass(frozen=True, slots=True)
class Notice:
    """One message for humans: what happened (``kind``, the audit event's) and the JSON
    body for the webhook, whose ``text`` says it in one paragraph."""

    kind: str
    event_id: int
    payload: Mapping[str, Any]


def notifier_for(
    settings: Settings, *, tier_of: Callable[[str], str] | None = None
) -> NotifyExecutor:
    """The notifier (webhook, Slack or the log) ``settings`` name; ``tier_of`` chooses a
    Slack channel by the service's tier."""
    return NotifyExecutor(webhook_url=settings.notify_webhook_url,
                          timeout_s=settings.executor_timeout_s,
                          slack=SlackNotifier.from_settings(settings, tier_of=tier_of))


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyStage:
    """The ``notify`` step. Afterwards the incident goes to ``execute`` when an approval
    completed while the step was due, else it is done."""

    store: Store
    settings: Settings
    policy: Callable[[], Policy]
    clock: Callable[[], datetime]
    notifier: NotifyExecutor

    def batches(self) -> bool:
        """Whether notices only go to the log (no webhook, no Slack): then many incidents
        are told in one transaction, as nothing waits on the network."""
        return self.notifier.target == "log"

    def run(self, lease: Lease) -> None:
        policy = self.policy()
        with lease.locked(self.store) as (session, row):
            notice = self._notice(session, row, policy)
        # Sent outside any transaction: a slow webhook holds no lock.
        outcome = self._send(notice)
        with lease.locked(self.store) as (session, row):
            self._conclude(session, lease, row, notice, outcome)

    def run_many(self, leases: Sequence[Lease]) -> None:
        """``run`` for each lease in one transaction: only when notices go to the log."""
        policy = self.policy()
        with self.store.session() as session:
            for lease in leases:
                row = lease.lock(session)
                if row is None:  # the lease was lost: whoever holds it now tells them
                    continue
                notice = self._notice(session, row, policy)
                self._conclude(session, lease, row, notice, self._send(notice))

    def _notice(self, session: Session, row: IncidentRow, policy: Policy) -> Notice | None:
        now = self.clock()
        expire_if_due(session, row, now=now)
        freeze_if_realerted(session, row, policy=policy, now=now)
        return notice_for(session, row, policy=policy, settings=self.settings)

    def _send(self, notice: Notice | None) -> dict[str, Any]:
        if notice is None:
            return {}
        try:
            result = self.notifier.send(notice.payload)
            return {"delivered": result.ok, "response": result.output[:500]}
        except ExecutorError as exc:
            return {"delivered": False, "error": str(exc)}

    def _conclude(self, session: Session, lease: Lease, row: IncidentRow,
                  notice: Notice | None, outcome: Mapping[str, Any]) -> None:
        """Audit what was sent and end the step."""
        if notice is not None:
            target = self.notifier.target
            kind = ("notify.logged" if target == "log"
                    else "notify.sent" if outcome["delivered"] else "notify.failed")
            audit.record(session, incident_id=row.id, actor="notify", kind=kind,
                         data={"about": notice.kind, "event_id": notice.event_id,
                               "target": target, "text": notice.payload["text"],
                               **outcome}, now=self.clock())
        approved_meanwhile = row.approval_state == ApprovalState.APPROVED and not (
            _executed(session, row))
        lease.finish(row, StepResult.APPROVED if approved_meanwhile
                     else finished(row, self.settings.postmortem_dir))


def _executed(session: Session, row: IncidentRow) -> bool:
    key = idempotency_key(row)
    return session.execute(
        select(ExecutionRow.id).where(ExecutionRow.idempotency_key == key)
    ).first() is not None


def notice_for(
    session: Session, row: IncidentRow, *, policy: Policy, settings: Settings
) -> Notice | None:
    """The message about the incident's latest event a human must hear of; None if none."""
    event = session.execute(
        select(AuditRow).where(AuditRow.incident_id == row.id,
                               AuditRow.kind.in_(ANNOUNCED_KINDS))
        .order_by(AuditRow.id.desc()).limit(1)
    ).scalar_one_or_none()
    if event is None:
        return None
    data: Mapping[str, Any] = event.data
    # The notice leaves the process (webhook, Slack, logs): the alert's own words are
    # redacted as they are for the model; the console shows them whole.
    extra = compile_patterns(settings.redact_patterns)
    title = redact(row.title, extra).text
    dry_run = " (dry run: nothing really runs)" if policy.mode == "dry_run" else ""
    shadow = f" ({SHADOW_NOTE})" if is_shadow(row.decision) else ""
    head = f"[Warden]{dry_run}{shadow} incident #{row.id} on {row.service} ({title})"
    action = _action_name(row, data)
    tier = policy.tier_of(row.service)
    body = _what_happened(event.kind, data, row=row, action=action, policy=policy, tier=tier,
                          settings=settings)
    frozen = session.get(FreezeRow, service_key(row.service))
    if frozen is not None:
        body += (f" Automation for {row.service} is frozen ({frozen.reason}); lift it with "
                 f"`warden unfreeze {row.service}` (an admin token).")
    # People follow the link: the console page, not the JSON (which stays as api_url).
    url = console_url(settings.public_url, row.id)
    api_url = f"{settings.public_url.rstrip('/')}/v1/incidents/{row.id}"
    latest_raw = session.execute(
        select(AlertRow.raw).where(AlertRow.incident_id == row.id)
        .order_by(AlertRow.id.desc()).limit(1)
    ).scalar_one_or_none()
    payload = {
        "text": f"{head}: {body} {url}",
        "mode": policy.mode,
        "kind": event.kind,
        "incident": {"id": row.id, "service": row.service, "tier": tier, "title": title,
                     "severity": row.severity, "status": row.status, "url": url,
                     "api_url": api_url},
        "decision": row.decision,
        "decision_digest": digest_of(row),
        "shadow": SHADOW_NOTE if is_shadow(row.decision) else None,
        "proposal": row.proposal,
        "alert_excerpt": redact(alert_excerpt(latest_raw), extra).text,
        "evidence": evidence_lines(row.evidence),
        "approval": {"state": row.approval_state,
                     "expires_at": row.approval_expires_at.isoformat()
                     if row.approval_expires_at else None,
                     "approvers": list(policy.approvers_for(tier)),
                     "needed": policy.quorum_for(tier)},
        "event": dict(data),
        "frozen": None if frozen is None else {"reason": frozen.reason},
    }
    return Notice(kind=event.kind, event_id=event.id, payload=payload)


def evidence_lines(evidence: list[dict[str, Any]] | None) -> list[str]:
    """One line per evidence item (already redacted by the investigate stage): its title
    and the first line of its summary, or why it failed."""
    lines = []
    for item in evidence or ():
        said = item.get("error") or _first_line(str(item.get("summary") or ""))
        lines.append(f"{item.get('title')}: {said}"[:_EVIDENCE_LINE_CHARS])
    return lines


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def _action_name(row: IncidentRow, data: Mapping[str, Any]) -> str:
    action = data.get("action") or (row.decision or {}).get("action") or {}
    return str(action.get("name") or "no action") if isinstance(action, dict) else "no action"


def _reasons(data: Mapping[str, Any]) -> str:
    reasons = data.get("reasons") or []
    return "; ".join(f"{r.get('code')}: {r.get('detail')}" for r in reasons) or "no reason given"


def _what_happened(
    kind: str, data: Mapping[str, Any], *, row: IncidentRow, action: str, policy: Policy,
    tier: str, settings: Settings,
) -> str:
    if kind in ("policy.decided", "policy.rechecked"):
        when = " at the re-check" if kind == "policy.rechecked" else ""
        outcome = data.get("outcome")
        if nothing_suggested(data):
            return (f"{NOTHING_SUGGESTED}{when}: the model proposed no action; a human "
                    f"should look. Nothing ran. Reasons: {_reasons(data)}.")
        if outcome == "blocked" and row.approval_state != ApprovalState.PENDING:
            return f"{action} is blocked{when}; nothing ran. Reasons: {_reasons(data)}."
        if row.approval_state != ApprovalState.PENDING:
            return (f"{action} needed approval{when} ({_reasons(data)}); the request is "
                    f"now {row.approval_state}.")
        approvers = ", ".join(policy.approvers_for(tier)) or "nobody (no approver is listed)"
        expires = row.approval_expires_at.isoformat() if row.approval_expires_at else "never"
        api = f"{settings.public_url.rstrip('/')}/v1/incidents/{row.id}/approve"
        return (f"{action} waits for approval{when} ({policy.quorum_for(tier)} of: "
                f"{approvers}; expires {expires}). Reasons: {_reasons(data)}. Approve with "
                f"`warden approve {row.id} --decision {digest_of(row)}` or POST {api}.")
    if kind == "approval.expired":
        return f"the approval request for {action} expired at {data.get('expires_at')}; " \
               "nothing ran."
    if kind == "execution.skipped":
        return f"{action} did not run: {data.get('why')}."
    if kind == "execution.unknown":
        return (f"{action} may or may not have run: a worker stopped between starting it and "
                "recording the result. Warden will not run it again; check the service by "
                "hand.")
    if kind == "execution.finished":
        first = str(data.get("output") or "").strip().splitlines()[:3]
        return f"{action} {data.get('status')}: {' / '.join(first) or 'no output'}."
    # verify.failed
    return (f"the health check after {action} failed ({data.get('detail', '').strip()}). "
            f"Opened incident #{data.get('opened_incident_id')} for it.")
