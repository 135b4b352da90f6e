"""Recording one human's verdict on an incident that waits for approval."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden import audit
from warden.approval._quorum import Tally, refusal, tally
from warden.approval._recheck import recheck
from warden.domain import Approval, ApprovalChannel, Outcome, Step, Verdict
from warden.errors import ApprovalStateError, NotAllowed, StaleDecision
from warden.pipeline.transitions import Entry, enter
from warden.policy import Policy, decision_json
from warden.store import ApprovalRow, IncidentRow, Store
from warden.trust.digest import digest_of


class ApprovalState(StrEnum):
    """``IncidentRow.approval_state``: absent when the decision needed no approval."""

    PENDING = "pending"
    APPROVED = "approved"  # the quorum approved and the re-check let it run
    REJECTED = "rejected"
    EXPIRED = "expired"  # the TTL passed first: nothing runs
    BLOCKED = "blocked"  # approved, but the re-check at that moment said blocked
    WITHDRAWN = "withdrawn"  # the incident resolved while it waited (correlate)


@dataclass(frozen=True, slots=True)
class Submitted:
    """What one verdict did: the request's state afterwards, who counts so far, and the
    re-check's decision when this approval completed the quorum."""

    incident_id: int
    verdict: Verdict
    state: ApprovalState
    approved_by: tuple[str, ...]
    needed: int
    recheck: dict[str, Any] | None = None


def submit(
    store: Store,
    *,
    incident_id: int,
    user: str,
    verdict: Verdict,
    reason: str,
    channel: ApprovalChannel,
    decision_digest: str,
    policy: Policy,
    now: datetime,
) -> Submitted:
    """Record ``user``'s approval or rejection of incident ``incident_id``'s pending action,
    as decided in the decision named ``decision_digest`` (the one ``user`` saw).

    Refusals change nothing and raise: ``UnknownIncident``; ``NotAllowed`` when ``user`` is
    not an approver of the service's tier or ``channel`` does not count for it;
    ``StaleDecision`` when ``decision_digest`` is not the current decision's;
    ``ApprovalStateError`` when nothing waits for approval, or ``user`` already gave the
    other verdict on this decision. A request found past its TTL is marked expired (and
    audited) first, then refused. A rejection ends the request. The approval that
    completes the quorum re-runs the policy on the state of ``now``: ``blocked`` stops
    everything (humans are told), anything else hands the incident to the execute step.
    One person gives one verdict per decision: repeating it records nothing more.
    """
    with store.session() as session:
        row = audit.lock_incident(session, incident_id)
        tier = policy.tier_of(row.service)
        why = refusal(user=user, channel=channel, tier=tier,
                      approvers=policy.approvers_for(tier), channels=policy.channels_for(tier))
        if why is not None:
            raise NotAllowed(why)
        current = digest_of(row)
        if decision_digest != current:
            raise StaleDecision(
                f"decision {decision_digest!r} is not the current decision of incident "
                f"{incident_id} ({current or 'none yet'}): it was triaged again since you "
                "looked. Nothing was recorded; look at the current decision and decide again")
        expired = expire_if_due(session, row, now=now)
        if not expired:
            problem = _not_waiting(row)
            if problem is not None:
                raise ApprovalStateError(problem)
            given = _verdict_of(session, row, user=user, digest=current)
            if given is None:
                return _record(session, row, user=user, verdict=verdict, reason=reason,
                               channel=channel, policy=policy, tier=tier, digest=current,
                               now=now)
            if given is not verdict:
                raise ApprovalStateError(
                    f"{user!r} already gave a verdict on this decision ({given}); one "
                    "person gives one verdict per decision")
            counted = tally_for(session, row, policy=policy)
            return Submitted(incident_id=row.id, verdict=verdict,
                             state=ApprovalState.PENDING,
                             approved_by=counted.approved_by, needed=counted.needed)
    # Outside the transaction, so that marking it expired is kept.
    raise ApprovalStateError(
        f"the approval request of incident {incident_id} expired at "
        f"{row.approval_expires_at.isoformat() if row.approval_expires_at else '?'}; "
        "nothing will run"
    )


def open_request(row: IncidentRow, *, now: datetime, ttl_minutes: float) -> None:
    """Make the incident's decision a request for humans, open for ``ttl_minutes``."""
    row.approval_state = ApprovalState.PENDING
    row.approval_expires_at = now + timedelta(minutes=ttl_minutes)


def expire_if_due(session: Session, row: IncidentRow, *, now: datetime) -> bool:
    """Mark a pending request whose TTL has passed as expired and audit it; True if it did.
    Idempotent; called lazily wherever a request is looked at (approve, notify, execute)."""
    if row.approval_state != ApprovalState.PENDING or row.approval_expires_at is None:
        return False
    if row.approval_expires_at > now:
        return False
    row.approval_state = ApprovalState.EXPIRED
    approved_by = dict.fromkeys(a.approver for a in _approvals_since_decision(session, row)
                                if a.verdict == Verdict.APPROVE)
    audit.record(session, incident_id=row.id, actor="approval", kind="approval.expired",
                 data={"expires_at": row.approval_expires_at.isoformat(),
                       "approved_by": list(approved_by)},
                 now=now)
    return True


def expire_overdue(session: Session, *, now: datetime) -> int:
    """Expire every pending request past its TTL that nobody is looking at, and hand its
    incident to the notify step: humans hear that nothing will run without anyone having
    to open the request again. Returns how many expired."""
    overdue = (IncidentRow.approval_state == ApprovalState.PENDING,
               IncidentRow.approval_expires_at <= now, IncidentRow.pending_step.is_(None))
    # A sweep that finds nothing (nearly every one) leaves the ingest writer alone; one
    # that expires takes the append lock before the rows, as every writer does.
    if session.execute(select(IncidentRow.id).where(*overdue).limit(1)).first() is None:
        return 0
    audit.hold_append_lock(session)
    rows = session.execute(
        select(IncidentRow).where(*overdue).with_for_update(skip_locked=True)
    ).scalars().all()
    for row in rows:
        expire_if_due(session, row, now=now)
        enter(row, Entry.APPROVAL_EXPIRED)
    return len(rows)


def tally_for(session: Session, row: IncidentRow, *, policy: Policy) -> Tally:
    """The approvals given for the incident's current decision, counted by ``policy``."""
    tier = policy.tier_of(row.service)
    approvals = [_approval(a) for a in _approvals_since_decision(session, row)]
    return tally(approvals, approvers=policy.approvers_for(tier),
                 quorum=policy.quorum_for(tier), channels=policy.channels_for(tier))


def _approvals_since_decision(session: Session, row: IncidentRow) -> list[ApprovalRow]:
    # A re-triage makes a new decision (a new digest); verdicts on an earlier one, and
    # rows from before verdicts named their decision, do not carry over.
    query = select(ApprovalRow).where(ApprovalRow.incident_id == row.id,
                                      ApprovalRow.decision_digest == digest_of(row))
    return list(session.execute(query.order_by(ApprovalRow.id)).scalars())


def _verdict_of(session: Session, row: IncidentRow, *, user: str, digest: str | None
                ) -> Verdict | None:
    """The verdict ``user`` already gave on the decision ``digest``, if any."""
    given = session.execute(
        select(ApprovalRow.verdict).where(ApprovalRow.incident_id == row.id,
                                          ApprovalRow.decision_digest == digest,
                                          ApprovalRow.approver == user).limit(1)
    ).scalar_one_or_none()
    return None if given is None else Verdict(given)


def _approval(row: ApprovalRow) -> Approval:
    return Approval(incident_id=row.incident_id, approver=row.approver,
                    verdict=Verdict(row.verdict), reason=row.reason,
                    channel=ApprovalChannel(row.channel), at=row.at)


def _not_waiting(row: IncidentRow) -> str | None:
    """Why incident ``row`` takes no verdict now, or None when a request is pending."""
    state = row.approval_state
    if state == ApprovalState.PENDING:
        if row.pending_step not in (None, Step.NOTIFY):
            return f"incident {row.id} is being processed ({row.pending_step}); try again"
        return None
    if state is None:
        outcome = row.decision_outcome or "not triaged yet"
        return f"incident {row.id} does not wait for approval (decision: {outcome})"
    return f"incident {row.id} does not wait for approval: the request is {state}"


def _record(
    session: Session, row: IncidentRow, *, user: str, verdict: Verdict, reason: str,
    channel: ApprovalChannel, policy: Policy, tier: str, digest: str | None, now: datetime,
) -> Submitted:
    session.add(ApprovalRow(incident_id=row.id, approver=user, verdict=verdict.value,
                            reason=reason, channel=channel.value, at=now,
                            decision_digest=digest))
    session.flush()
    kind = "approval.approved" if verdict is Verdict.APPROVE else "approval.rejected"
    audit.record(session, incident_id=row.id, actor=user, kind=kind,
                 data={"channel": channel.value, "reason": reason, "tier": tier,
                       "decision_digest": digest}, now=now)
    counted = tally_for(session, row, policy=policy)
    done = Submitted(incident_id=row.id, verdict=verdict, state=ApprovalState.PENDING,
                     approved_by=counted.approved_by, needed=counted.needed)
    if counted.rejected:
        row.approval_state = ApprovalState.REJECTED
        return replace(done, state=ApprovalState.REJECTED)
    if not counted.reached:
        return done

    decision = recheck(session, row, policy=policy, now=now, stage="approval")
    checked = {**decision_json(decision), "stage": "approval",
               "approved_by": list(counted.approved_by)}
    audit.record(session, incident_id=row.id, actor="policy", kind="policy.rechecked",
                 data=checked, now=now)
    if decision.outcome is Outcome.BLOCKED:
        row.approval_state = ApprovalState.BLOCKED
        enter(row, Entry.APPROVAL_BLOCKED)
    else:
        # needs_approval, for whatever reason, is exactly what these approvals grant.
        row.approval_state = ApprovalState.APPROVED
        # A notify step still due hands over to execute itself when it ends.
        enter(row, Entry.APPROVED)
    audit.record(session, incident_id=row.id, actor="approval", kind="approval.quorum",
                 data={"approved_by": list(counted.approved_by), "needed": counted.needed,
                       "state": row.approval_state}, now=now)
    return Submitted(incident_id=row.id, verdict=verdict,
                     state=ApprovalState(row.approval_state), approved_by=counted.approved_by,
                     needed=counted.needed, recheck=checked)

