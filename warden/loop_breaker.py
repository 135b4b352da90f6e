"""The loop breaker: freezing automation for a service until a human lifts it.

A service is frozen when a health check fails after an action on it, or when it alerts
again (a new incident) within ``cooldown_minutes`` of an automated execution. While it is
frozen, ``decide`` answers ``needs_approval`` (``loop_breaker``) for it: nothing more runs
by itself. ``warden unfreeze SERVICE`` (an admin token) lifts it.

Freezes are kept by service key (policy.md, "One service, one key"): freezing
``Checkout-Web`` freezes ``checkout-web`` too, and either spelling lifts it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warden import audit
from warden.domain import service_key
from warden.errors import NotAllowed
from warden.policy import Policy
from warden.store import ExecutionRow, FreezeRow, IncidentRow


def freeze(
    session: Session, *, service: str, reason: str, frozen_by: str, incident_id: int | None,
    now: datetime,
) -> bool:
    """Freeze ``service``'s key (audited on ``incident_id``); False when it already was
    frozen."""
    key = service_key(service)
    if session.get(FreezeRow, key) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(FreezeRow(service=key, reason=reason, frozen_by=frozen_by,
                                  incident_id=incident_id, at=now))
    except IntegrityError:
        return False  # another replica froze it first; once is enough
    audit.record(session, incident_id=incident_id, actor=frozen_by, kind="loop_breaker.frozen",
                 data={"service": service, "reason": reason}, now=now)
    return True


def unfreeze(
    session: Session, *, service: str, user: str, policy: Policy, now: datetime
) -> FreezeRow | None:
    """Lift the freeze of ``service`` (any spelling of its key); returns the lifted
    freeze, or None when it was not frozen. Only an approver of the service's tier may;
    anyone else gets ``NotAllowed`` and nothing changes. Audited."""
    tier = policy.tier_of(service)
    if user not in policy.approvers_for(tier):
        raise NotAllowed(f"{user!r} is not an approver for {tier} services; they may not "
                         f"lift a freeze of {service!r}")
    row = session.get(FreezeRow, service_key(service), with_for_update=True)
    if row is None:
        return None
    session.delete(row)
    audit.record(session, incident_id=row.incident_id, actor=user, kind="loop_breaker.lifted",
                 data={"service": row.service, "reason": row.reason,
                       "frozen_at": row.at.isoformat()}, now=now)
    return row


def freeze_if_realerted(
    session: Session, incident: IncidentRow, *, policy: Policy, now: datetime
) -> bool:
    """Freeze ``incident``'s service when it opened less than ``cooldown_minutes`` after an
    automated execution (dry runs included) for another incident of that service key:
    the fix did not hold. True when this call froze it. Idempotent."""
    cooldown = policy.limits.cooldown_minutes
    key = service_key(incident.service)
    if cooldown <= 0 or session.get(FreezeRow, key) is not None:
        return False
    opened = incident.first_seen
    earlier = session.execute(
        select(ExecutionRow).where(
            ExecutionRow.service_key == key,
            ExecutionRow.automated.is_(True),
            ExecutionRow.incident_id != incident.id,
            ExecutionRow.started_at <= opened,
            ExecutionRow.started_at > opened - timedelta(minutes=cooldown),
        ).order_by(ExecutionRow.started_at.desc()).limit(1)
    ).scalar_one_or_none()
    if earlier is None:
        return False
    minutes = (opened - earlier.started_at).total_seconds() / 60
    reason = (f"{incident.service} alerted again (incident #{incident.id}) {minutes:.1f} "
              f"minutes after the automated {earlier.action.get('name')} of incident "
              f"#{earlier.incident_id} (cooldown {cooldown:g} minutes)")
    return freeze(session, service=incident.service, reason=reason, frozen_by="loop_breaker",
                  incident_id=incident.id, now=now)
