"""``/incidents/{id}/report``: the post-mortem as a page.

The report is Markdown (``warden report``); here it is rendered with markdown-it-py's
CommonMark preset with raw HTML off, so text an alert or the model wrote (the report puts
it in code fences and escaped cells already) can never become markup or script, and links
keep markdown-it's check that refuses ``javascript:`` and similar schemes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt
from markupsafe import Markup

from warden.web.approvals import report_markdown
from warden.web.console._render import render
from warden.web.deps import IncidentId, SessionDep, WardenDep

router = APIRouter(include_in_schema=False)

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


@router.get("/incidents/{incident_id}/report", response_class=HTMLResponse)
async def report_page(request: Request, incident_id: IncidentId, warden: WardenDep,
                      session: SessionDep) -> HTMLResponse:
    """The incident's post-mortem, rendered; 404 when there is no such incident."""
    text = await run_in_threadpool(report_markdown, warden, incident_id)
    if text is None:
        return render(request, "error.html",
                      {"title": "No such incident",
                       "message": f"There is no incident {incident_id}."},
                      session=session, status_code=404)
    return render(request, "report.html",
                  {"incident_id": incident_id, "body": Markup(_MARKDOWN.render(text))},
                  session=session)
