"""The incidents JSON API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool

from warden.changes import changes_before
from warden.store.queries import incident_detail, list_incidents
from warden.web._responses import error_responses
from warden.web.deps import MAX_ROW_ID, IncidentId, ReaderDep, WardenDep
from warden.web.serialize import incident_detail_json, incident_json

router = APIRouter(tags=["incidents"])


@router.get("/v1/incidents", responses=error_responses(401, 429))
async def get_incidents(
    warden: WardenDep,
    _reader: ReaderDep,
    status: Literal["open", "resolved"] | None = None,
    service: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> dict[str, Any]:
    """Incidents, newest first: ``{"items": [...], "total": N}``."""

    def load() -> dict[str, Any]:
        with warden.store.session() as session:
            page = list_incidents(session, status=status, service=service, limit=limit,
                                  offset=offset)
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
