"""Approve, reject, the post-mortem report, reloading the policy and lifting a freeze."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from warden import approval, audit
from warden.domain import ApprovalChannel, Verdict
from warden.errors import ConfigError, PolicyLoadError
from warden.store import FreezeRow
from warden.web._responses import error_responses
from warden.web.deps import AdminDep, ApproverDep, IncidentId, ReaderDep, WardenDep

if TYPE_CHECKING:
    from warden.app import Warden

router = APIRouter(tags=["approvals"])


DigestField = Annotated[str, Field(
    min_length=1, max_length=64,
    description="decision.digest of the decision you judged (GET /v1/incidents/{id}); "
                "when it is no longer the current decision the answer is 409 and nothing "
                "is recorded")]


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=2000)] = ""
    decision_digest: DigestField


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    decision_digest: DigestField


def _verdict_json(done: approval.Submitted) -> dict[str, Any]:
    return {"incident_id": done.incident_id, "verdict": done.verdict.value,
            "approval_state": done.state.value, "approved_by": list(done.approved_by),
            "needed": done.needed, "recheck": done.recheck}


ClientHeader = Annotated[
    str | None,
    Header(alias="X-Warden-Client", max_length=32,
           description="`cli` from `warden approve|reject`: the verdict's channel is then "
                       "cli (both are bearer-token channels; who decides is the token's)"),
]


async def _submit(warden: WardenDep, incident_id: int, user: str, verdict: Verdict,
                  reason: str, digest: str, client: str | None) -> dict[str, Any]:
    channel = ApprovalChannel.CLI if client == "cli" else ApprovalChannel.API
    done = await run_in_threadpool(
        lambda: approval.submit(warden.store, incident_id=incident_id, user=user,
                                verdict=verdict, reason=reason, channel=channel,
                                decision_digest=digest, policy=warden.policy.current,
                                now=warden.clock()))
    warden.wake_worker()  # an approved action (or a blocked re-check's notice) is due now
    return _verdict_json(done)


@router.post("/v1/incidents/{incident_id}/approve",
             responses=error_responses(400, 401, 403, 404, 409, 429))
async def approve(
    incident_id: IncidentId, who: ApproverDep, warden: WardenDep, body: ApproveBody,
    client: ClientHeader = None,
) -> dict[str, Any]:
    """Approve the incident's pending action, as decided in ``decision_digest``, as the
    token's user. 401 without a known token, 403 when the user may not approve it, 409
    when that decision is no longer current or nothing waits (or it expired); a refusal
    changes nothing. A second verdict of the same person on the same decision records
    nothing more. The approval that completes the quorum re-checks the policy
    (``recheck`` in the answer) and, unless that says blocked, the action runs."""
    return await _submit(warden, incident_id, who.name, Verdict.APPROVE, body.reason,
                         body.decision_digest, client)


@router.post("/v1/incidents/{incident_id}/reject",
             responses=error_responses(400, 401, 403, 404, 409, 429))
async def reject(
    incident_id: IncidentId, who: ApproverDep, warden: WardenDep, body: RejectBody,
    client: ClientHeader = None,
) -> dict[str, Any]:
    """Reject the incident's pending action (a reason is required); nothing will run."""
    return await _submit(warden, incident_id, who.name, Verdict.REJECT, body.reason,
                         body.decision_digest, client)


@router.get("/v1/incidents/{incident_id}/report", response_class=PlainTextResponse,
            responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}}},
                       **error_responses(401, 404, 429)})
async def report(incident_id: IncidentId, warden: WardenDep, _reader: ReaderDep
                 ) -> PlainTextResponse:
    """The incident's post-mortem in Markdown (as ``warden report ID``)."""
    text = await run_in_threadpool(report_markdown, warden, incident_id)
    if text is None:
        raise HTTPException(404, f"no incident {incident_id}")
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


def report_markdown(warden: Warden, incident_id: int) -> str | None:
    """The post-mortem as ``warden report`` writes it, or None when there is no such
    incident (for the API and the console's report page)."""
    from warden.audit.report import render_report

    with warden.store.session() as session:
        return render_report(session, incident_id, policy=warden.policy.current,
                             change_lookback_minutes=warden.settings.change_lookback_minutes)


@router.post("/v1/policy/reload", responses=error_responses(401, 403, 409, 429))
async def reload_policy(who: AdminDep, warden: WardenDep) -> JSONResponse:
    """Read the policy file again (admin token). A file that does not validate is
    refused with 409 and why; the policy in force stays. Both are audited."""
    user = who.name

    def reload() -> JSONResponse:
        now = warden.clock()
        try:
            policy = warden.policy.reload()
        except ConfigError as exc:
            why: dict[str, Any] = {"error": type(exc).__name__, "detail": str(exc)}
            if isinstance(exc, PolicyLoadError):
                why.update(path=exc.path, key=exc.key, reason=exc.reason)
            with warden.store.session() as session:
                audit.record(session, incident_id=None, actor=user,
                             kind="policy.reload_refused", data=why, now=now)
            return JSONResponse(status_code=409, content={**why, "kept": "the policy in force"})
        body = {"source": policy.source, "mode": policy.mode,
                "actions": sorted(policy.actions), "services": dict(policy.services)}
        with warden.store.session() as session:
            audit.record(session, incident_id=None, actor=user, kind="policy.reloaded",
                         data=body, now=now)
        return JSONResponse(status_code=200, content={"reloaded": True, **body})

    return await run_in_threadpool(reload)


@router.post("/v1/services/{service}/unfreeze", responses=error_responses(401, 403, 404, 429))
async def unfreeze(
    service: Annotated[str, PathParam(min_length=1, max_length=255)], who: AdminDep,
    warden: WardenDep,
) -> dict[str, Any]:
    """Lift the loop breaker's freeze of ``service`` (admin token, and an approver of the
    service's tier); audited. 404 when it is not frozen."""
    from warden.loop_breaker import unfreeze as lift

    def run() -> FreezeRow | None:
        with warden.store.session() as session:
            return lift(session, service=service, user=who.name,
                        policy=warden.policy.current, now=warden.clock())

    lifted = await run_in_threadpool(run)
    if lifted is None:
        raise HTTPException(404, f"{service!r} is not frozen")
    warden.wake_worker()
    return {"service": service, "unfrozen_by": who.name, "frozen_at": lifted.at.isoformat(),
            "reason": lifted.reason}
