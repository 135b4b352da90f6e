"""The incidents pages: the live list (paged, searchable), its refreshing fragment, the
detail page, the approve/reject form (which goes through the same approval entry point as
the API) and the acknowledge/resolve buttons (the same hand actions as the API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from warden import correlate
from warden.approval import submit
from warden.config import Role
from warden.domain import ApprovalChannel, Verdict
from warden.errors import ApprovalError
from warden.web.console._incident_view import IncidentList, incident_list, incident_page
from warden.web.console._render import SECURITY_HEADERS, render
from warden.web.deps import MAX_ROW_ID, IncidentId, SessionDep, WardenDep
from warden.web.incidents import HandAction, by_hand
from warden.web.sessions import ConsoleSession, csrf_ok

if TYPE_CHECKING:
    from warden.app import Warden

router = APIRouter(include_in_schema=False)

REFRESH_S = 3
_NOTICES = {
    "approve": "Your approval was recorded.",
    "reject": "Your rejection was recorded.",
    "acknowledge": "You acknowledged this incident.",
    "resolve": "You resolved this incident.",
}

StatusFilter = Annotated[str | None, Query(max_length=16)]
ServiceFilter = Annotated[str | None, Query(max_length=255)]
SearchFilter = Annotated[str | None, Query(max_length=255)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]


@dataclass(frozen=True, slots=True)
class ListFilters:
    """What the list is narrowed to; unknown statuses and empty fields (a form's "any")
    mean no filter."""

    status: str | None
    service: str | None
    q: str | None

    @classmethod
    def read(cls, status: str | None, service: str | None, q: str | None) -> ListFilters:
        return cls(status=status if status in ("open", "resolved") else None,
                   service=service.strip() or None if service else None,
                   q=q.strip() or None if q else None)

    @property
    def any(self) -> bool:
        return bool(self.status or self.service or self.q)

    def query(self, offset: int) -> str:
        """The list's query string for these filters at ``offset``."""
        pairs = {"status": self.status, "service": self.service, "q": self.q,
                 "offset": str(offset) if offset else None}
        return urlencode({k: v for k, v in pairs.items() if v})


def _listing(warden: Warden, filters: ListFilters, offset: int) -> IncidentList:
    return incident_list(warden, status=filters.status, service=filters.service,
                         search=filters.q, offset=offset)


@router.get("/", response_class=HTMLResponse)
async def incidents(request: Request, warden: WardenDep, session: SessionDep,
                    status: StatusFilter = None, service: ServiceFilter = None,
                    q: SearchFilter = None, offset: OffsetQuery = 0) -> HTMLResponse:
    """The incidents, newest first, a page at a time; the page refreshes its rows by
    itself."""
    filters = ListFilters.read(status, service, q)
    listing = await run_in_threadpool(_listing, warden, filters, offset)
    return render(request, "incidents.html",
                  {"listing": listing, "filters": filters, "refresh_s": REFRESH_S},
                  session=session)


@router.get("/fragments/incidents", response_class=HTMLResponse)
async def incident_rows(request: Request, warden: WardenDep, session: SessionDep,
                        status: StatusFilter = None, service: ServiceFilter = None,
                        q: SearchFilter = None, offset: OffsetQuery = 0) -> HTMLResponse:
    """Only the table rows of the list, for the page's polling script."""
    filters = ListFilters.read(status, service, q)
    listing = await run_in_threadpool(_listing, warden, filters, offset)
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
    refused = await _approver_refusal(request, warden, session, incident_id, csrf,
                                      what="verdicts", reason=reason)
    if refused is not None or session is None:  # (None session is refused: for mypy)
        return refused or _to_login(incident_id)
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


async def _approver_refusal(request: Request, warden: Warden, session: ConsoleSession | None,
                            incident_id: int, csrf: str, *, what: str, reason: str = ""
                            ) -> Response | None:
    """Why a console form that changes an incident is refused (no session, a foreign
    form, a token below approver), as the page to answer with; None when it may go on."""
    if session is None:
        return _to_login(incident_id)
    if not csrf_ok(session, csrf):
        return await _detail(request, warden, session, incident_id, status_code=403,
                             reason=reason,
                             error="The form's security token did not match. Reload the page "
                                   "and try again.")
    if not session.role.allows(Role.APPROVER):
        return await _detail(request, warden, session, incident_id, status_code=403,
                             reason=reason,
                             error=f"Refused: you ({session.user}) hold a {session.role} "
                                   f"token; {what} need an approver token.")
    return None


def _to_login(incident_id: int) -> RedirectResponse:
    return RedirectResponse(f"/login?next=/incidents/{incident_id}", status_code=303,
                            headers=dict(SECURITY_HEADERS))


@router.post("/incidents/{incident_id}/acknowledge")
async def acknowledge(request: Request, incident_id: IncidentId, warden: WardenDep,
                      session: SessionDep,
                      csrf: Annotated[str, Form(max_length=256)] = "") -> Response:
    """Take the incident on as the signed-in approver (the API's ``acknowledge``)."""
    return await _by_hand_form(request, warden, session, incident_id, csrf,
                               correlate.acknowledge, done="acknowledge")


@router.post("/incidents/{incident_id}/resolve")
async def resolve(request: Request, incident_id: IncidentId, warden: WardenDep,
                  session: SessionDep,
                  csrf: Annotated[str, Form(max_length=256)] = "") -> Response:
    """Close the incident by hand as the signed-in approver (the API's ``resolve``)."""
    return await _by_hand_form(request, warden, session, incident_id, csrf,
                               correlate.resolve, done="resolve")


async def _by_hand_form(request: Request, warden: Warden, session: ConsoleSession | None,
                        incident_id: int, csrf: str, action: HandAction, *, done: str
                        ) -> Response:
    refused = await _approver_refusal(request, warden, session, incident_id, csrf,
                                      what="acknowledging and resolving")
    if refused is not None or session is None:  # (None session is refused: for mypy)
        return refused or _to_login(incident_id)
    try:
        await by_hand(warden, action, incident_id, session.user)
    except ApprovalError as exc:
        return await _detail(request, warden, session, incident_id,
                             status_code=exc.status_code, error=f"Refused: {exc}")
    return RedirectResponse(f"/incidents/{incident_id}?done={done}", status_code=303,
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
