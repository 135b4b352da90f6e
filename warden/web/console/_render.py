"""Rendering console pages: the templates, their filters and the headers every page gets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from warden.web.console._words import outcome_words, reason_words, when
from warden.web.sessions import ConsoleSession
from warden.words import SHADOW_NOTE

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
templates.env.filters["when"] = when
templates.env.filters["usd"] = lambda value: f"${float(value):,.4f}"
templates.env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False,
                                                           default=str)
templates.env.filters["outcome_words"] = outcome_words
templates.env.filters["reason_words"] = reason_words
templates.env.globals["shadow_note"] = SHADOW_NOTE

# Everything is served by Warden itself: no inline script or style, no third party. The
# approve button must not be clickable inside someone else's frame.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages hold CSRF tokens and raw alerts: no shared or back-button caches.
    "Cache-Control": "no-store",
}


def render(
    request: Request, name: str, context: Mapping[str, Any], *,
    session: ConsoleSession | None, status_code: int = 200,
) -> HTMLResponse:
    """Render ``name`` with the signed-in user and their CSRF token in the context."""
    full = {
        "user": session.user if session is not None else None,
        "csrf": session.csrf if session is not None else "",
        "path": request.url.path,
        **context,
    }
    return templates.TemplateResponse(request, name, full, status_code=status_code,
                                      headers=dict(SECURITY_HEADERS))
