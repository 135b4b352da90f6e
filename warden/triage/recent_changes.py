"""What a triage provider is told about changes: the incident's recent changes and the
versions its service has run (issue 17, "Changes as evidence" and "The rules provider
uses them")."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from warden.changes.queries import changes_before, deployed_versions
from warden.triage.provider import RecentChange, TriageRequest


def with_changes(
    session: Session, request: TriageRequest, *, first_alert_at: datetime,
    lookback_minutes: float, grounding_days: float, now: datetime,
) -> TriageRequest:
    """``request`` with the changes on its service key in the ``lookback_minutes`` before
    ``first_alert_at`` (newest first) and the versions the service has run within
    ``grounding_days`` before ``now``: the record the policy grounds a rollback on, so a
    provider can name a version the policy will accept."""
    recent = tuple(
        RecentChange(kind=str(recorded.change.kind), version=recorded.change.version,
                     summary=recorded.change.summary, at=recorded.change.at,
                     minutes_before=(first_alert_at - recorded.change.at).total_seconds() / 60)
        for recorded in changes_before(session, request.service, first_alert_at,
                                       lookback_minutes))
    return replace(request, changes=recent,
                   deployed_versions=deployed_versions(session, request.service, now,
                                                       grounding_days))
