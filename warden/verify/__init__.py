"""The verify stage: a health check after an action; a failed one trips the loop breaker.

``Verifier.check`` (``HttpVerifier``, ``CommandVerifier``) judges a service's health;
``VerifyStage`` runs it after an action and, when it fails, opens a follow-up incident
and freezes the service (``warden.loop_breaker``, which execute and notify consult too).
"""

from warden.verify._check import CheckResult, CommandVerifier, HttpVerifier, Verifier
from warden.verify._step import VerifyStage, verifier_for

__all__ = [
    "CheckResult",
    "CommandVerifier",
    "HttpVerifier",
    "Verifier",
    "VerifyStage",
    "verifier_for",
]
