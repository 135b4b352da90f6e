"""Console sign-in: signed, expiring session cookies and per-session CSRF tokens.

The cookie never holds the API token. It holds the user's name, an expiry, a random nonce
and a tag derived from the token the user signed in with, all signed with HMAC-SHA256, so
a forged or altered cookie is refused, and rotating or removing the user's token in
``WARDEN_API_TOKENS`` ends their sessions. The CSRF token is derived from the nonce: one
per session, worthless to anyone who cannot read the page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Response

from warden.web.deps import WardenDep

if TYPE_CHECKING:
    from warden.config import Settings

SESSION_COOKIE = "warden_session"
LOGIN_COOKIE = "warden_login"
SESSION_TTL_S = 8 * 3600  # one on-call shift; then sign in again


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in approver, as the session cookie says and the settings still confirm."""

    user: str
    nonce: str
    expires_at: float
    token_tag: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and checks session cookie values and CSRF tokens with one secret.

    Pure apart from the secret: the time is always passed in.
    """

    def __init__(self, secret: bytes, *, ttl_s: float = SESSION_TTL_S) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionSigner:
        """Signs with ``WARDEN_SESSION_SECRET``, else with a random per-process secret."""
        configured = settings.session_secret
        secret = (configured.get_secret_value().encode() if configured is not None
                  else secrets.token_bytes(32))
        return cls(secret)

    def _mac(self, purpose: str, message: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}:{message}".encode(), hashlib.sha256)
        return _b64(digest.digest())

    def token_tag(self, api_token: str) -> str:
        """A keyed digest of the API token: ties a session to the token without holding it."""
        return self._mac("token", api_token)[:22]

    def issue(self, user: str, *, api_token: str, now: float) -> str:
        """A cookie value for ``user``, valid for ``ttl_s`` from ``now``."""
        payload = _b64(json.dumps(
            {"u": user, "n": secrets.token_urlsafe(16), "e": now + self.ttl_s,
             "t": self.token_tag(api_token)},
            separators=(",", ":"),
        ).encode())
        return f"{payload}.{self._mac('session', payload)}"

    def read(self, value: str, *, now: float) -> ConsoleSession | None:
        """The session in a cookie value; None when unsigned, altered, malformed or expired."""
        payload, _, signature = value.partition(".")
        if not signature or not hmac.compare_digest(signature, self._mac("session", payload)):
            return None
        try:
            body = json.loads(_unb64(payload))
            session = ConsoleSession(user=str(body["u"]), nonce=str(body["n"]),
                                     expires_at=float(body["e"]), token_tag=str(body["t"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if now < session.expires_at else None

    def csrf_token(self, session: ConsoleSession) -> str:
        """The CSRF token of one session (the forms carry it; POSTs must echo it)."""
        return self._mac("csrf", session.nonce)

    def csrf_ok(self, session: ConsoleSession, submitted: str) -> bool:
        return hmac.compare_digest(submitted.encode(), self.csrf_token(session).encode())


def signer(request: Request) -> SessionSigner:
    found: SessionSigner = request.app.state.console_signer
    return found


def current_session(request: Request, warden: WardenDep) -> ConsoleSession | None:
    """The signed-in approver, or None.

    A valid signature is not enough: the user must still hold the same API token in the
    settings, so removing or rotating a token signs its sessions out.
    """
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    sign = signer(request)
    session = sign.read(value, now=warden.clock().timestamp())
    if session is None:
        return None
    token = warden.settings.api_tokens.get(session.user)
    if token is None or not hmac.compare_digest(
        sign.token_tag(token.get_secret_value()), session.token_tag
    ):
        return None
    return session


SessionDep = Annotated[ConsoleSession | None, Depends(current_session)]


def is_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS, directly or through a proxy that says so."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_cookie(request: Request, response: Response, name: str, value: str,
               *, max_age_s: int) -> None:
    """HTTP-only, SameSite=Strict, and Secure whenever the request came over HTTPS."""
    response.set_cookie(name, value, max_age=max_age_s, path="/", httponly=True,
                        samesite="strict", secure=is_https(request))


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="strict",
                           secure=is_https(request))
