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
from warden.investigate.stage import Collected, build_investigator, collect, investigate, keep

__all__ = [
    "AlertSeen",
    "Case",
    "Collected",
    "Evidence",
    "EvidenceKind",
    "EvidenceSource",
    "Investigator",
    "build_investigator",
    "collect",
    "investigate",
    "keep",
]
