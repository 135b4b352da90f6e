"""What the store knows about changes: the listing, recorded deploys, an incident's evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from warden.changes._change import Change, ChangeKind, RecordedChange
from warden.domain import service_key as key_of
from warden.store import ChangeRow


@dataclass(frozen=True, slots=True)
class ChangePage:
    items: tuple[RecordedChange, ...]
    total: int


def recorded_change(row: ChangeRow) -> RecordedChange:
    return RecordedChange(
        id=row.id,
        change=Change(source=row.source, sender_key=row.sender_key, service=row.service,
                      kind=ChangeKind(row.kind), at=row.at, version=row.version,
                      summary=row.summary, author=row.author, link=row.link),
        received_at=row.received_at,
    )


def _newest_first(query: Select[ChangeRow]) -> Select[ChangeRow]:
    return query.order_by(ChangeRow.at.desc(), ChangeRow.id.desc())


def list_changes(
    session: Session, *, service: str | None = None, since: datetime | None = None,
    limit: int = 100, offset: int = 0,
) -> ChangePage:
    """Changes newest first (by when they happened); ``service`` matches any case of the
    name; ``since`` keeps changes at or after it; ``total`` counts all that match."""
    query = select(ChangeRow)
    if service is not None:
        query = query.where(ChangeRow.service_key == key_of(service))
    if since is not None:
        query = query.where(ChangeRow.at >= since)
    total = session.execute(
        select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(_newest_first(query).limit(limit).offset(offset)).scalars()
    return ChangePage(tuple(recorded_change(row) for row in rows), total)


def deployed_versions(
    session: Session, service_key: str, now: datetime, grounding_days: float
) -> tuple[str, ...]:
    """The versions the service has run, oldest first, the last one current.

    From deploy changes with a version on ``service_key`` (compared as a service key, so
    any case of the name counts) that happened within ``grounding_days`` before ``now``;
    a version deployed twice in a row counts once. This is the record the policy's
    grounded params check (policy.md, check 5b).
    """
    rows = session.execute(
        select(ChangeRow.version)
        .where(ChangeRow.service_key == key_of(service_key),
               ChangeRow.kind == ChangeKind.DEPLOY.value,
               ChangeRow.version.is_not(None),
               ChangeRow.at >= now - timedelta(days=grounding_days),
               ChangeRow.at <= now)
        .order_by(ChangeRow.at, ChangeRow.id)
    ).scalars()
    versions: list[str] = []
    for version in rows:
        if version is not None and (not versions or versions[-1] != version):
            versions.append(version)
    return tuple(versions)


def changes_before(
    session: Session, service_key: str, first_alert_at: datetime, lookback_minutes: float
) -> tuple[RecordedChange, ...]:
    """The service's changes (any kind) in the ``lookback_minutes`` up to
    ``first_alert_at``, newest first: the evidence an incident shows."""
    rows = session.execute(_newest_first(
        select(ChangeRow).where(
            ChangeRow.service_key == key_of(service_key),
            ChangeRow.at >= first_alert_at - timedelta(minutes=lookback_minutes),
            ChangeRow.at <= first_alert_at,
        ))).scalars()
    return tuple(recorded_change(row) for row in rows)
