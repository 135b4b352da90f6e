"""The incidents pages: the live list, its refreshing fragment, the detail page and the
approve/reject form (which goes through the same approval entry point as the API)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from warden.approval import submit
from warden.config import Role
from warden.domain import ApprovalChannel, Verdict
from warden.errors import ApprovalError
from warden.web.console._incident_view import incident_list, incident_page
from warden.web.console._render import SECURITY_HEADERS, render
from warden.web.deps import IncidentId, SessionDep, WardenDep
from warden.web.sessions import ConsoleSession, csrf_ok

if TYPE_CHECKING:
    from warden.app import Warden

router = APIRouter(include_in_schema=False)

REFRESH_S = 3
_NOTICES = {
    "approve": "Your approval was recorded.",
    "reject": "Your rejection was recorded.",
}

StatusFilter = Annotated[str | None, Query(max_length=16)]
ServiceFilter = Annotated[str | None, Query(max_length=255)]


def _filters(status: str | None, service: str | None) -> dict[str, str | None]:
    """Unknown statuses and empty fields (a form's "any") mean no filter."""
    return {"status": status if status in ("open", "resolved") else None,
            "service": service.strip() or None if service else None}


@router.get("/", response_class=HTMLResponse)
async def incidents(request: Request, warden: WardenDep, session: SessionDep,
                    status: StatusFilter = None, service: ServiceFilter = None) -> HTMLResponse:
    """The incidents, newest first; the page refreshes its rows by itself."""
    filters = _filters(status, service)
    listing = await run_in_threadpool(lambda: incident_list(warden, **filters))
    return render(request, "incidents.html",
                  {"listing": listing, "filters": filters, "refresh_s": REFRESH_S},
                  session=session)


@router.get("/fragments/incidents", response_class=HTMLResponse)
async def incident_rows(request: Request, warden: WardenDep, session: SessionDep,
                        status: StatusFilter = None,
                        service: ServiceFilter = None) -> HTMLResponse:
    """Only the table rows of the list, for the page's polling script."""
    filters = _filters(status, service)
    listing = await run_in_threadpool(lambda: incident_list(warden, **filters))
    response = render(request, "incident_rows.html", {"listing": listing}, session=session)
    response.headers["X-Incidents-Total"] = str(listing.total)
    return response


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident(request: Request, incident_id: IncidentId, warden: WardenDep,
                   session: SessionDep,
                   done: Annotated[str | None, Query(max_length=16)] = None) -> HTMLResponse:
    """One incident: the raw alerts first, then what the model, the policy and people did."""
    return await _detail(request, warden, session, incident_id,
                         notice=_NOTICES.get(done or ""))


async def _detail(request: Request, warden: Warden, session: ConsoleSession | None,
                  incident_id: int, *, notice: str | None = None, error: str | None = None,
                  reason: str = "", status_code: int = 200) -> HTMLResponse:
    page = await run_in_threadpool(incident_page, warden, incident_id)
    if page is None:
        return render(request, "error.html",
                      {"title": "No such incident",
                       "message": f"There is no incident {incident_id}."},
                      session=session, status_code=404)
    return render(request, "incident.html",
                  {"page": page, "incident": page.incident, "notice": notice, "error": error,
                   "reason": reason},
                  session=session, status_code=status_code)


@router.post("/incidents/{incident_id}/decide")
async def decide(
    request: Request,
    incident_id: IncidentId,
    warden: WardenDep,
    session: SessionDep,
    verdict: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
    csrf: Annotated[str, Form(max_length=256)] = "",
    raw_reviewed: Annotated[str, Form(max_length=8)] = "",
    decision_digest: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Approve or reject from the console, as the signed-in approver, with a reason, the
    decision shown on the page (its digest: a re-triage since makes the verdict refused)."""
    if session is None:
        return RedirectResponse(f"/login?next=/incidents/{incident_id}", status_code=303,
                                headers=dict(SECURITY_HEADERS))
    if not csrf_ok(session, csrf):
        return await _detail(request, warden, session, incident_id, status_code=403,
                             reason=reason,
                             error="The form's security token did not match. Reload the page "
                                   "and try again.")
    if not session.role.allows(Role.APPROVER):
        return await _detail(request, warden, session, incident_id, status_code=403,
                             reason=reason,
                             error=f"Refused: you ({session.user}) hold a {session.role} "
                                   "token; verdicts need an approver token.")
    problem = _form_problem(verdict, reason, raw_reviewed, decision_digest)
    if problem is not None:
        return await _detail(request, warden, session, incident_id, status_code=400,
                             reason=reason, error=problem)
    try:
        await run_in_threadpool(_record_verdict, warden, incident_id, user=session.user,
                                verdict=verdict, reason=reason.strip(),
                                decision_digest=decision_digest)
    except ApprovalError as exc:
        return await _detail(request, warden, session, incident_id, reason=reason,
                             status_code=exc.status_code, error=f"Refused: {exc}")
    return RedirectResponse(f"/incidents/{incident_id}?done={verdict}", status_code=303,
                            headers=dict(SECURITY_HEADERS))


def _form_problem(verdict: str, reason: str, raw_reviewed: str, decision_digest: str
                  ) -> str | None:
    if verdict not in ("approve", "reject"):
        return "Choose Approve or Reject."
    if not decision_digest:
        return "The form does not name the decision it judges; reload the page."
    if not reason.strip():
        return "Give a reason: it goes into the audit log and the post-mortem."
    # The page enables Approve only once the raw alerts were opened and read to the end;
    # this catches a form sent without that step (it is a safeguard, not a security check).
    if verdict == "approve" and raw_reviewed != "1":
        return "Open the raw alert payloads and read them to the end before approving."
    return None


def _record_verdict(warden: Warden, incident_id: int, *, user: str, verdict: str,
                    reason: str, decision_digest: str) -> None:
    """The approval stage's one entry point, as the API and Slack use it, channel console."""
    submit(warden.store, incident_id=incident_id, user=user, verdict=Verdict(verdict),
           reason=reason, channel=ApprovalChannel.CONSOLE, decision_digest=decision_digest,
           policy=warden.policy.current, now=warden.clock())
    warden.wake_worker()
