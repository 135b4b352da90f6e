"""The worker steps after triage (see warden/worker.py for the step contract).

``notify``: tell humans (execute/_announce.py); ``execute``: run the action at most once
(execute/run.py); ``verify``: the health check and loop breaker (verify/); ``postmortem``:
write the report of a resolved incident to ``WARDEN_POSTMORTEM_DIR`` (audit/report.py).
Each handler ends by calling ``release`` in the transaction that records its result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from warden import audit
from warden.audit.report import write_postmortem
from warden.domain import Step
from warden.execute._announce import announce
from warden.execute.run import run
from warden.store.claims import Claim, lock_owned, release
from warden.verify import verify_step

if TYPE_CHECKING:
    from warden.worker import Worker


def postmortem(worker: Worker, claim: Claim) -> None:
    """The ``postmortem`` step: (re)write the incident's report file when
    ``WARDEN_POSTMORTEM_DIR`` is set; audited. Scheduled when an incident is resolved and
    nothing else is due for it."""
    warden = worker.warden
    directory = warden.settings.postmortem_dir
    with warden.store.session() as session:
        row = lock_owned(session, claim, owner=worker.owner)
        if row is None:
            return
        if directory is not None:
            path = write_postmortem(
                session, row.id, directory, policy=warden.policy.current,
                change_lookback_minutes=warden.settings.change_lookback_minutes)
            audit.record(session, incident_id=row.id, actor="report",
                         kind="postmortem.written", data={"path": str(path)},
                         now=warden.clock())
        release(row, next_step=None)


STEPS: dict[str, Callable[[Worker, Claim], None]] = {
    Step.NOTIFY: announce,
    Step.EXECUTE: run,
    Step.VERIFY: verify_step,
    Step.POSTMORTEM: postmortem,
}
