"""The investigation: every source at once, each within its own timeout, all within one
deadline; whatever comes back is capped and redacted before anyone sees it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from re import Pattern

from warden.investigate._evidence import (
    Case,
    Evidence,
    EvidenceSource,
    cap,
    failed,
    redact_item,
)


class Investigator:
    """Runs ``sources`` for a case.

    ``collect`` returns within ``deadline_s`` (plus scheduling noise) whatever the sources
    do: a source that raises or is still running at its own timeout, or at the deadline,
    yields one item with ``error`` saying so. Items come back in source order, each within
    ``max_item_bytes`` and redacted with the deployment's extra ``redact_patterns``. It
    writes nothing; a source still running after its timeout is abandoned, not waited
    for (sources bound their own I/O with timeouts too).
    """

    def __init__(self, sources: Sequence[EvidenceSource], *, deadline_s: float,
                 max_item_bytes: int, redact_patterns: Sequence[Pattern[str]] = ()) -> None:
        self.sources = tuple(sources)
        self.deadline_s = deadline_s
        self.max_item_bytes = max_item_bytes
        self.redact_patterns = tuple(redact_patterns)

    def collect(self, case: Case) -> tuple[Evidence, ...]:
        if not self.sources:
            return ()
        started = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=len(self.sources),
                                  thread_name_prefix="warden-investigate")
        try:
            running = [(s, pool.submit(s.gather, case)) for s in self.sources]
            items: list[Evidence] = []
            for source, future in running:
                items.extend(self._outcome(source, future, started))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return tuple(redact_item(cap(i, self.max_item_bytes), self.redact_patterns)
                     for i in items)

    def _outcome(self, source: EvidenceSource, future: Future[Sequence[Evidence]],
                 started: float) -> Sequence[Evidence]:
        own_end = started + source.timeout_s
        stage_end = started + self.deadline_s
        wait_s = max(0.0, min(own_end, stage_end) - time.monotonic())
        try:
            return list(future.result(timeout=wait_s))
        except TimeoutError:
            limit = ("its timeout" if source.timeout_s < self.deadline_s
                     else "the investigation deadline")
            seconds = min(source.timeout_s, self.deadline_s)
            return [failed(source, f"no answer within {seconds:g} s ({limit})")]
        except Exception as exc:  # a source's failure is evidence too, never a lost incident
            return [failed(source, f"{type(exc).__name__}: {exc}")]
