"""The worker steps this stage and the next ones run, and what follows a finished one."""

from __future__ import annotations

from warden.config import Settings
from warden.domain import IncidentStatus, Step
from warden.store import IncidentRow

__all__ = ["when_done"]


def when_done(row: IncidentRow, settings: Settings) -> Step | None:
    """The step after the last one: the post-mortem file, when the incident is already
    resolved and ``WARDEN_POSTMORTEM_DIR`` is set; otherwise none."""
    if row.status == IncidentStatus.RESOLVED and settings.postmortem_dir is not None:
        return Step.POSTMORTEM
    return None
