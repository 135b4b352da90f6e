"""GitHub's ``deployment_status`` webhook: a deployment that succeeded is a deploy.

- ``X-Hub-Signature-256`` must be ``sha256=`` and the hex HMAC-SHA256 of the raw body
  under ``WARDEN_GITHUB_WEBHOOK_SECRET`` (compared in constant time) when the secret is
  set; it is checked before anything else, ignored events included.
- ``X-GitHub-Event`` other than ``deployment_status`` (``ping`` when the webhook is
  created, any event ticked by mistake), and states other than ``success`` (``pending``,
  ``in_progress``, ``failure``...), are acknowledged and ignored; their body must still be
  a JSON object (the webhook's content type ``application/json``).
- service: ``deployment.payload.service``, else ``repository.name``; version:
  ``deployment.payload.version``, else ``deployment.ref``; at:
  ``deployment_status.created_at``; author: the status's creator, else the sender; link:
  the status's ``log_url``, else its ``target_url``, else the environment's URL.
- identity: ``deployment_status.id``, the same on every redelivery of the event.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from pydantic import SecretStr

from warden.changes._change import Change, ChangeKind, Ignored
from warden.changes.sources._fields import optional_link, optional_name, optional_time
from warden.errors import AuthError, PayloadError
from warden.ingest._fingerprint import digest
from warden.ingest.accept import Delivery, decode_json
from warden.ingest.sources._fields import (
    JSONObject,
    as_object,
    optional_object,
    optional_string,
    required_string,
    service_name,
)

SOURCE = "github"
SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
_DEPLOYED = "success"


class GitHubChangeAdapter:
    """Parses one GitHub webhook delivery; ``secret`` is the webhook's, if one is set."""

    def __init__(self, secret: SecretStr | None) -> None:
        self._secret = secret

    def parse(self, delivery: Delivery, *, received_at: datetime) -> Change | Ignored:
        headers = {name.lower(): value for name, value in delivery.headers.items()}
        if self._secret is not None:
            check_signature(headers.get(SIGNATURE_HEADER.lower()), delivery.body, self._secret)
        # Decoded before the event is looked at: a webhook left on GitHub's default
        # form-encoded content type fails its first ping, not silently every delivery.
        top = as_object(decode_json(delivery.body), "$")
        event = headers.get(EVENT_HEADER.lower(), "").strip()
        if event != "deployment_status":
            return Ignored(f"the {event or 'unnamed'} event is not a deployment_status")
        status = optional_object(top, "deployment_status", "$")
        if status is None:
            raise PayloadError("deployment_status is required", "$.deployment_status")
        state = required_string(status, "state", "$.deployment_status")
        if state != _DEPLOYED:
            return Ignored(f"the deployment's state is {state[:32]!r}, not success")
        deployment = optional_object(top, "deployment", "$")
        if deployment is None:
            raise PayloadError("deployment is required", "$.deployment")
        # GitHub keeps the payload a deployment was created with: an object, or a string
        # when the creator sent one; only an object can name a service or version.
        extra = deployment.get("payload")
        extra = extra if isinstance(extra, dict) else {}
        return Change(
            source=SOURCE,
            sender_key=_identity(status, top),
            service=_service(extra, top),
            kind=ChangeKind.DEPLOY,
            at=optional_time(status, "created_at", "$.deployment_status", default=received_at),
            version=(optional_name(extra, "version", "$.deployment.payload")
                     or optional_name(deployment, "ref", "$.deployment")),
            summary=_summary(status, deployment),
            author=_login(status.get("creator")) or _login(top.get("sender")),
            link=(optional_link(status, "log_url", "$.deployment_status")
                  or optional_link(status, "target_url", "$.deployment_status")
                  or optional_link(status, "environment_url", "$.deployment_status")),
        )


def check_signature(given: str | None, body: bytes, secret: SecretStr) -> None:
    """Raise ``AuthError`` unless ``given`` is GitHub's signature of ``body``."""
    if not given or not given.strip():
        raise AuthError(f"the {SIGNATURE_HEADER} signature header is missing")
    expected = "sha256=" + hmac.new(secret.get_secret_value().encode("utf-8"), body,
                                    hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().encode("utf-8", "surrogatepass"),
                               expected.encode("ascii")):
        raise AuthError(f"the {SIGNATURE_HEADER} signature does not match the body")


def _identity(status: JSONObject, top: JSONObject) -> str:
    status_id = status.get("id")
    if isinstance(status_id, int | str) and not isinstance(status_id, bool):
        return digest(SOURCE, "deployment_status", str(status_id))
    return digest(SOURCE, top)


def _service(extra: JSONObject, top: JSONObject) -> str:
    named = optional_string(extra, "service", "$.deployment.payload")
    if named and named.strip():
        return service_name(named, "$.deployment.payload.service")
    repository = optional_object(top, "repository", "$")
    if repository is None:
        raise PayloadError("repository is required when deployment.payload has no service",
                           "$.repository")
    return service_name(required_string(repository, "name", "$.repository"),
                        "$.repository.name")


def _summary(status: JSONObject, deployment: JSONObject) -> str:
    environment = optional_string(status, "environment", "$.deployment_status") or (
        optional_string(deployment, "environment", "$.deployment") or "")
    described = optional_string(status, "description", "$.deployment_status") or ""
    sha = optional_string(deployment, "sha", "$.deployment") or ""
    ref = optional_string(deployment, "ref", "$.deployment") or ""
    text = f"deployed {ref or sha[:12]}" + (f" ({sha[:12]})" if ref and sha else "")
    if environment:
        text += f" to {environment}"
    return f"{text}: {described}"[:1024] if described else text[:1024]


def _login(user: object) -> str | None:
    if not isinstance(user, Mapping):
        return None
    login = user.get("login")
    return login[:255] if isinstance(login, str) and login.strip() else None
