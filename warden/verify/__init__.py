"""The verify stage: a health check after an action, and the loop breaker.

``Verifier.check`` (``HttpVerifier``, ``CommandVerifier``) judges a service's health;
``VerifyStage`` runs it after an action and, when it fails, opens a follow-up incident
and freezes the service. ``breaker`` freezes and lifts automation per service.
"""

from warden.verify._check import CheckResult, CommandVerifier, HttpVerifier, Verifier
from warden.verify._step import VerifyStage, verifier_for
from warden.verify.breaker import freeze, freeze_if_realerted, unfreeze

__all__ = [
    "CheckResult",
    "CommandVerifier",
    "HttpVerifier",
    "Verifier",
    "VerifyStage",
    "freeze",
    "freeze_if_realerted",
    "unfreeze",
    "verifier_for",
]
