"""The worker steps this stage and the next ones run, and what follows a finished one."""

from __future__ import annotations

from warden.config import Settings
from warden.domain import IncidentStatus
from warden.store import IncidentRow
from warden.worker import STEP_EXECUTE, STEP_NOTIFY, STEP_VERIFY

STEP_POSTMORTEM = "postmortem"

__all__ = ["STEP_EXECUTE", "STEP_NOTIFY", "STEP_POSTMORTEM", "STEP_VERIFY", "when_done"]


def when_done(row: IncidentRow, settings: Settings) -> str | None:
    """The step after the last one: the post-mortem file, when the incident is already
    resolved and ``WARDEN_POSTMORTEM_DIR`` is set; otherwise none."""
    if row.status == IncidentStatus.RESOLVED and settings.postmortem_dir is not None:
        return STEP_POSTMORTEM
    return None
