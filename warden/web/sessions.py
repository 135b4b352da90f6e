"""Console sign-in: sessions kept in the store, and a CSRF token per session.

The cookie holds only a random session id. The store keeps its SHA-256, the user, the
expiry and a tag of the API token the user signed in with, so every replica agrees on
who is signed in, signing out deletes the row (the old cookie is worthless at once),
and rotating or removing the user's token in ``WARDEN_API_TOKENS`` ends their sessions.
The CSRF token is derived from the session id: one per session, worthless to anyone
who cannot read the page.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete

from warden.config import Identity, Role
from warden.store import SessionRow

if TYPE_CHECKING:
    from warden.config import Settings
    from warden.store import Store

SESSION_COOKIE = "warden_session"
SESSION_TTL = timedelta(hours=8)  # one on-call shift; then sign in again


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in user, as the store says and the settings still confirm."""

    user: str
    role: Role
    csrf: str

    @property
    def identity(self) -> Identity:
        return Identity(self.user, self.role)


def _sha256(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _csrf(session_id: str) -> str:
    digest = hashlib.sha256(f"csrf\x00{session_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def open_session(store: Store, user: str, *, api_token: str, now: datetime) -> str:
    """Record a new session of ``user`` and return the cookie value that names it."""
    session_id = secrets.token_urlsafe(32)
    with store.session() as db:
        db.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
        db.add(SessionRow(id_hash=_sha256("session", session_id), user=user,
                          token_tag=_sha256("token", session_id, api_token),
                          created_at=now, expires_at=now + SESSION_TTL))
    return session_id


def read_session(store: Store, settings: Settings, session_id: str, *, now: datetime
                 ) -> ConsoleSession | None:
    """The session a cookie names; None when unknown, signed out, expired, or its user's
    token is no longer the one they signed in with."""
    with store.session() as db:
        row = db.get(SessionRow, _sha256("session", session_id))
    if row is None or row.expires_at <= now:
        return None
    entry = settings.api_tokens.get(row.user)
    if entry is None or not secrets.compare_digest(
        _sha256("token", session_id, entry.secret.get_secret_value()), row.token_tag
    ):
        return None
    return ConsoleSession(user=row.user, role=entry.role, csrf=_csrf(session_id))


def close_session(store: Store, session_id: str) -> None:
    """Sign out: the session's row goes, so its cookie opens nothing on any replica."""
    with store.session() as db:
        db.execute(delete(SessionRow).where(SessionRow.id_hash == _sha256("session", session_id)))


def csrf_ok(session: ConsoleSession, submitted: str) -> bool:
    return secrets.compare_digest(submitted.encode(), session.csrf.encode())
