"""Who may post alerts for a source: bearer token, basic credentials and/or HMAC signature.

Each source is configured independently in ``Settings``:

- ``source_tokens[source]``: ``Authorization: Bearer <token>``;
- ``source_basic_auth[source]``: ``"user:password"``, sent as ``Authorization: Basic
  base64(user:password)`` (what Alertmanager's ``http_config.basic_auth`` sends);
- ``source_hmac_secrets[source]``: the header ``settings.hmac_signature_header`` holds the
  lowercase hex HMAC-SHA256 of ``"{timestamp}:{body}"`` when the header
  ``settings.hmac_timestamp_header`` is present (Unix seconds, at most 5 minutes from
  now), else of the body alone; an optional ``sha256=`` prefix is accepted. This is
  Grafana 12's scheme. Without a timestamp a captured request can be replayed, so
  configure Grafana's timestamp header too.

A source with a token and basic credentials accepts either (both use the Authorization
header); an HMAC secret is required on top of whichever of those is set. While no source
has credentials every source is open: that is the local default. Once any source has
some, a source with none is refused unless ``settings.open_sources`` names it, so that
securing one source never leaves the others open by accident.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping

from pydantic import SecretStr

from warden.config import Settings
from warden.errors import AuthError

REPLAY_WINDOW_S = 300
_UNIX_SECONDS = re.compile(r"[0-9]{1,20}")


def check(
    source: str, *, headers: Mapping[str, str], body: bytes, settings: Settings, now: float
) -> None:
    """Return if the request may post for ``source``, else raise ``AuthError``.

    ``headers`` are matched case-insensitively, ``body`` is the raw request body and
    ``now`` the current Unix time. Secrets are compared in constant time and never
    appear in the error's message, nor does what the request sent.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    token = settings.source_tokens.get(source)
    basic = settings.source_basic_auth.get(source)
    secret = settings.source_hmac_secrets.get(source)
    if token is not None or basic is not None:
        _check_authorization(lowered.get("authorization"), token=token, basic=basic)
    if secret is not None:
        _check_signature(lowered, body, secret=secret, settings=settings, now=now)
    if token is None and basic is None and secret is None and _any_credentials(settings) \
            and source not in settings.open_sources:
        raise AuthError(
            f"the source {source!r} has no credentials of its own while other sources do; "
            "configure some for it, or name it in WARDEN_OPEN_SOURCES to accept it unsigned")


def _any_credentials(settings: Settings) -> bool:
    return bool(settings.source_tokens or settings.source_basic_auth
                or settings.source_hmac_secrets)


def _same(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)


def _encode(value: str) -> bytes:
    # A header value can hold anything a client put there; never fail on encoding it.
    return value.encode("utf-8", "surrogatepass")


def _check_authorization(
    value: str | None, *, token: SecretStr | None, basic: SecretStr | None
) -> None:
    wanted = " or ".join(name for name, secret in (("a Bearer token", token),
                                                    ("Basic credentials", basic))
                         if secret is not None)
    if not value or not value.strip():
        raise AuthError(f"the Authorization header is missing; this source needs {wanted}")
    scheme, _, credentials = value.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and token is not None:
        if not _same(_encode(credentials), _encode(token.get_secret_value())):
            raise AuthError("the bearer token is wrong")
        return
    if scheme.lower() == "basic" and basic is not None:
        try:
            decoded = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError):
            raise AuthError("the Basic credentials are not valid base64") from None
        if not _same(decoded, _encode(basic.get_secret_value())):
            raise AuthError("the Basic credentials are wrong")
        return
    raise AuthError(f"the Authorization header has the wrong scheme; this source needs {wanted}")


def _check_signature(
    headers: Mapping[str, str], body: bytes, *, secret: SecretStr, settings: Settings,
    now: float,
) -> None:
    signature_header = settings.hmac_signature_header
    given = headers.get(signature_header.lower(), "").strip()
    if not given:
        raise AuthError(f"the {signature_header} signature header is missing")
    if given[:7].lower() == "sha256=":
        given = given[7:]

    stamp = headers.get(settings.hmac_timestamp_header.lower())
    if stamp is None:
        message = body
    else:
        stamp = stamp.strip()
        if not _UNIX_SECONDS.fullmatch(stamp):
            raise AuthError(f"the {settings.hmac_timestamp_header} header must be Unix seconds")
        if abs(now - int(stamp)) > REPLAY_WINDOW_S:
            raise AuthError(
                f"the {settings.hmac_timestamp_header} timestamp is more than "
                f"{REPLAY_WINDOW_S // 60} minutes from now; refusing a possible replay"
            )
        message = stamp.encode("ascii") + b":" + body

    expected = hmac.new(_encode(secret.get_secret_value()), message, hashlib.sha256)
    if not _same(_encode(given.lower()), expected.hexdigest().encode("ascii")):
        raise AuthError(f"the {signature_header} signature does not match the body")
