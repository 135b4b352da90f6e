"""The triage stage: a provider proposes, strictly parsed, for the policy to judge."""

from warden.triage.factory import build_provider
from warden.triage.provider import TriageProvider, TriageReply, TriageRequest

__all__ = ["TriageProvider", "TriageReply", "TriageRequest", "build_provider"]
