"""Console cookies: set and cleared HTTP-only, SameSite=Strict, Secure over HTTPS.

The session cookie names a session kept in the store (``warden.web.sessions``); the login
cookie carries the sign-in form's double-submit token.
"""

from __future__ import annotations

from fastapi import Request, Response

LOGIN_COOKIE = "warden_login"


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
