"""``decision.digest``: the name of one decision and the proposal it judged.

Every verdict carries the digest of the decision its giver saw (the console form, the
API body, the CLI, a Slack button), and counts only while that is the incident's current
decision. The decision's time is part of it, so a re-triage makes a new digest even when
it reaches the same outcome for the same proposal: approvals never carry over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from warden.store import IncidentRow


def decision_digest(
    decision: Mapping[str, Any] | None, proposal_raw: str | None, decided_at: datetime | None
) -> str:
    """16 hex characters naming a decision's content, the raw proposal it judged and when."""
    text = json.dumps(
        {"decision": decision or {}, "proposal": proposal_raw,
         "at": decided_at.astimezone(UTC).isoformat() if decided_at is not None else None},
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def digest_of(row: IncidentRow) -> str | None:
    """The digest of ``row``'s current decision; None before it is decided."""
    if row.decision is None:
        return None
    return decision_digest(row.decision, row.proposal_raw, row.decided_at)
