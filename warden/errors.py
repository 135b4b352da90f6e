"""Warden's exceptions, rooted at ``WardenError``, one shallow branch per stage.

    WardenError
    ├── ConfigError            settings or the policy file are unusable
    │   ├── PolicyLoadError    the policy file does not validate (path, key, reason)
    │   └── PolicyCaseError    a `warden policy check/test` case is unusable (where, reason)
    ├── IngestError            a payload cannot become alerts (-> 4xx)
    │   ├── UnknownSourceError
    │   ├── PayloadError       wrong shape (-> 422); ``where`` locates it
    │   │   ├── MalformedJSONError  not UTF-8 JSON at all (-> 400)
    │   │   └── UnsupportedMediaType  a JSON endpoint got another Content-Type (-> 415)
    │   ├── PayloadTooLarge    (-> 413)
    │   └── AuthError          missing or wrong credentials (-> 401)
    ├── StoreError             the store cannot take the write
    │   └── OverloadedError    refuse before storing (-> 503 with Retry-After)
    ├── TriageError            a provider could not produce a reply
    ├── ReplayRefused          the audit chain does not verify, or holds an unreadable record
    ├── ApprovalError          an approval cannot be recorded
    │   ├── NotAuthenticated   (-> 401)
    │   ├── NotAllowed         (-> 403)
    │   ├── UnknownIncident    no incident with that id (-> 404)
    │   └── ApprovalStateError nothing waits for approval, or it expired (-> 409)
    │       └── AlreadyResolved  acknowledge/resolve by hand on a resolved incident
    └── ExecutorError          an executor failed; ``recoverable`` says whether a retry may help

Expected outcomes (a malformed proposal, a blocked action) are values with a reason
code, never exceptions.
"""

from __future__ import annotations


class WardenError(Exception):
    """Root of every error Warden raises on purpose."""


class ConfigError(WardenError):
    pass


class PolicyLoadError(ConfigError):
    """The policy file is refused whole; the message names the path, the key and why."""

    def __init__(self, path: str, key: str, reason: str) -> None:
        super().__init__(f"{path}: {key}: {reason}")
        self.path = path
        self.key = key
        self.reason = reason


class PolicyCaseError(ConfigError):
    """A case line of ``warden policy check --cases`` or a test of ``warden policy test``
    cannot be evaluated; ``where`` locates it (``FILE:LINE`` or a test name)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class IngestError(WardenError):
    status_code = 400


class UnknownSourceError(IngestError):
    status_code = 404


class PayloadError(IngestError):
    """Malformed JSON or a payload of the wrong shape; ``where`` is a JSON path."""

    status_code = 422

    def __init__(self, message: str, where: str = "$") -> None:
        super().__init__(message)
        self.where = where


class MalformedJSONError(PayloadError):
    """The body is not JSON at all (or not UTF-8): a 400, not a shape problem."""

    status_code = 400


class UnsupportedMediaType(PayloadError):
    """A body sent to a JSON endpoint without ``Content-Type: application/json``: refused
    before it is read, so a cross-site ``text/plain`` post stores nothing."""

    status_code = 415


class PayloadTooLarge(IngestError):
    status_code = 413


class AuthError(IngestError):
    status_code = 401


class StoreError(WardenError):
    pass


class OverloadedError(StoreError):
    """Refused before anything was stored; the sender should retry after a while."""

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TriageError(WardenError):
    pass


class ReplayRefused(WardenError):
    """``warden policy replay`` will not re-decide a log it cannot trust or read."""


class ApprovalError(WardenError):
    status_code = 400


class NotAuthenticated(ApprovalError):
    status_code = 401


class NotAllowed(ApprovalError):
    status_code = 403


class TooManyFailures(ApprovalError):
    """A client sent too many wrong credentials lately; it may try again later."""

    status_code = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnknownIncident(ApprovalError):
    status_code = 404


class ApprovalStateError(ApprovalError):
    status_code = 409


class AlreadyResolved(ApprovalStateError):
    """A person acknowledged or resolved an incident that is resolved already."""


class StaleDecision(ApprovalStateError):
    """A verdict names a decision that is not the incident's current one."""


class ExecutorError(WardenError):
    def __init__(self, message: str, *, recoverable: bool) -> None:
        super().__init__(message)
        self.recoverable = recoverable
