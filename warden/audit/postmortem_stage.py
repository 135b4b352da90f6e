"""The ``postmortem`` stage: (re)write a resolved incident's report file.

Scheduled when an incident is resolved and nothing else is due for it; writes only when
``WARDEN_POSTMORTEM_DIR`` is set, and audits the file it wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from warden import audit
from warden.audit.report import write_postmortem
from warden.pipeline.stage import Lease, StepResult
from warden.policy import Policy
from warden.store import Store


class PostmortemStage:
    def __init__(
        self, *, store: Store, directory: Path | None, policy: Callable[[], Policy],
        clock: Callable[[], datetime], change_lookback_minutes: float,
    ) -> None:
        self._store = store
        self._directory = directory
        self._policy = policy
        self._clock = clock
        self._change_lookback_minutes = change_lookback_minutes

    def run(self, lease: Lease) -> None:
        with self._store.session() as session:
            row = lease.lock(session)
            if row is None:
                return
            if self._directory is not None:
                path = write_postmortem(
                    session, row.id, self._directory, policy=self._policy(),
                    change_lookback_minutes=self._change_lookback_minutes)
                audit.record(session, incident_id=row.id, actor="report",
                             kind="postmortem.written", data={"path": str(path)},
                             now=self._clock())
            lease.finish(row, StepResult.DONE)
