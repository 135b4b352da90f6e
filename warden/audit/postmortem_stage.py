"""The ``postmortem`` stage: (re)write a resolved incident's report file.

Scheduled when an incident is resolved and nothing else is due for it; writes only when
``WARDEN_POSTMORTEM_DIR`` is set, and audits the file it wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warden import audit
from warden.audit.report import write_postmortem
from warden.pipeline.stage import Lease, StepResult
from warden.policy import Policy
from warden.store import Store


@dataclass(frozen=True, slots=True, kw_only=True)
class PostmortemStage:
    store: Store
    directory: Path | None
    policy: Callable[[], Policy]
    clock: Callable[[], datetime]
    change_lookback_minutes: float

    def run(self, lease: Lease) -> None:
        with lease.locked(self.store) as (session, row):
            if self.directory is not None:
                path = write_postmortem(
                    session, row.id, self.directory, policy=self.policy(),
                    change_lookback_minutes=self.change_lookback_minutes)
                audit.record(session, incident_id=row.id, actor="report",
                             kind="postmortem.written", data={"path": str(path)},
                             now=self.clock())
            lease.finish(row, StepResult.DONE)
