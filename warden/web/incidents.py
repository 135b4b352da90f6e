"""The incidents JSON API: the list, one incident, and acknowledging or resolving by hand."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from warden import correlate
from warden.changes import changes_before
from warden.store.queries import incident_detail, list_incidents
from warden.web._responses import error_responses
from warden.web.deps import MAX_ROW_ID, ApproverDep, IncidentId, ReaderDep, WardenDep
from warden.web.serialize import incident_detail_json, incident_json

if TYPE_CHECKING:
    from warden.app import Warden

router = APIRouter(tags=["incidents"])


@router.get("/v1/incidents", responses=error_responses(401, 429))
async def get_incidents(
    warden: WardenDep,
    _reader: ReaderDep,
    status: Literal["open", "resolved"] | None = None,
    service: Annotated[str | None, Query(max_length=255)] = None,
    q: Annotated[str | None, Query(max_length=255, description=(
        "words to find, case-insensitively, in the service or the title"))] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> dict[str, Any]:
    """Incidents, newest first: ``{"items": [...], "total": N}`` (``total`` counts every
    match, ``offset``/``limit`` choose the page)."""

    def load() -> dict[str, Any]:
        with warden.store.session() as session:
            page = list_incidents(session, status=status, service=service, search=q,
                                  limit=limit, offset=offset)
            return {"items": [incident_json(r) for r in page.items], "total": page.total}

    return await run_in_threadpool(load)


@router.get("/v1/incidents/{incident_id}", responses=error_responses(401, 404, 429))
async def get_incident(incident_id: IncidentId, warden: WardenDep, _reader: ReaderDep
                       ) -> dict[str, Any]:
    """One incident with its alerts, proposal, decision (with ``decision.digest``, which a
    verdict must name), approvals and executions, and the changes on its service in the
    ``WARDEN_CHANGE_LOOKBACK_MINUTES`` before its first alert."""

    def load() -> dict[str, Any] | None:
        with warden.store.session() as session:
            detail = incident_detail(session, incident_id)
            if detail is None:
                return None
            incident = detail.incident
            changes = changes_before(session, incident.service, incident.first_seen,
                                     warden.settings.change_lookback_minutes)
            return incident_detail_json(detail, changes=changes)

    body = await run_in_threadpool(load)
    if body is None:
        raise HTTPException(404, f"no incident {incident_id}")
    return body


class HandAction(Protocol):
    def __call__(self, session: Session, incident_id: int, *, user: str, now: datetime
                 ) -> correlate.HandState: ...


async def by_hand(warden: Warden, action: HandAction, incident_id: int, user: str
                  ) -> correlate.HandState:
    """Run a hand action (``correlate.acknowledge`` or ``resolve``) as ``user``, for the API
    and the console alike."""

    def run() -> correlate.HandState:
        with warden.store.session() as session:
            return action(session, incident_id, user=user, now=warden.clock())

    done = await run_in_threadpool(run)
    warden.wake_worker()  # a resolve makes the post-mortem due
    return done


def _hand_json(done: correlate.HandState) -> dict[str, Any]:
    return {"incident_id": done.incident_id, "status": done.status,
            "acknowledged_by": done.acknowledged_by,
            "acknowledged_at": done.acknowledged_at.isoformat() if done.acknowledged_at else None,
            "resolved_at": done.resolved_at.isoformat() if done.resolved_at else None}


@router.post("/v1/incidents/{incident_id}/acknowledge",
             responses=error_responses(401, 403, 404, 409, 429))
async def acknowledge(incident_id: IncidentId, who: ApproverDep, warden: WardenDep
                      ) -> dict[str, Any]:
    """Take the incident on, as the token's user (approver or admin token); audited as
    ``incident.acknowledged``. Acknowledging again keeps the first acknowledgement; a
    resolved incident answers 409."""
    return _hand_json(await by_hand(warden, correlate.acknowledge, incident_id, who.name))


@router.post("/v1/incidents/{incident_id}/resolve",
             responses=error_responses(401, 403, 404, 409, 429))
async def resolve(incident_id: IncidentId, who: ApproverDep, warden: WardenDep
                  ) -> dict[str, Any]:
    """Close the incident by hand (approver or admin token): status ``resolved``, a
    pending approval withdrawn, audited as ``incident.resolved`` by the user. 409 when it
    is resolved already."""
    return _hand_json(await by_hand(warden, correlate.resolve, incident_id, who.name))
