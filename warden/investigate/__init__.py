"""The investigate stage: read-only evidence for an incident before anyone proposes
anything (ARCHITECTURE.md, *investigate*; issue 18)."""

from warden.investigate._evidence import (
    AlertSeen,
    Case,
    Evidence,
    EvidenceKind,
    EvidenceSource,
)
from warden.investigate.investigator import Investigator
from warden.investigate.stage import build_investigator, investigate

__all__ = [
    "AlertSeen",
    "Case",
    "Evidence",
    "EvidenceKind",
    "EvidenceSource",
    "Investigator",
    "build_investigator",
    "investigate",
]
