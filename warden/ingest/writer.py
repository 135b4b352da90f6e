"""Ingest writers: the threads that store parsed deliveries.

Every delivery commits before its sender hears 202. On SQLite (one writer at a time) a
single thread commits many deliveries in one transaction and one fsync, so durable
ingest keeps up with a flood; should the batch fail, each delivery is retried in a
savepoint of its own so only the one at fault fails. On PostgreSQL several threads each
commit one delivery at a time: batches there would lock incidents of several replicas in
different orders and deadlock; a deadlock or serialisation failure is retried.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from warden.correlate import Folded
from warden.errors import OverloadedError, WardenError
from warden.ingest.accept import Parsed, pending_work, store_many, store_parsed
from warden.store import Store

log = structlog.get_logger("warden.ingest")


@dataclass(frozen=True, slots=True)
class _Job:
    parsed: Parsed
    loop: asyncio.AbstractEventLoop
    result: asyncio.Future[list[Folded]]


_Outcome = list[Folded] | BaseException


class IngestWriter:
    """Stores parsed deliveries; ``store`` returns once its delivery is committed.

    Also keeps the work-queue depth (refreshed at most once a second, on its own thread so
    no request waits for the count) for backpressure.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        single_writer = store.dialect == "sqlite"
        self._max_batch = 256 if single_writer else 1
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._run, name=f"warden-ingest-{i}", daemon=True)
            for i in range(1 if single_writer else 8)
        ]
        self._count_lock = threading.Lock()
        self.pending_work = 0
        self._counted_at = 0.0

    def start(self) -> None:
        self._count_pending()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Store everything already submitted, then stop."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=30)

    async def store(self, parsed: Parsed) -> list[Folded]:
        """Store ``parsed`` on the writer thread; return its alerts' outcomes once committed.
        Raises what storing raised (``OverloadedError`` when the store cannot take it)."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[list[Folded]] = loop.create_future()
        self._jobs.put(_Job(parsed, loop, result))
        return await result

    def _count_pending(self) -> None:
        self.pending_work = pending_work(self._store)
        self._counted_at = time.monotonic()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._jobs.get(timeout=1.0)
            except queue.Empty:
                # Recount while idle too: when the queue is full every delivery is refused
                # before it reaches this thread, so a count taken only after writes would
                # never see the worker drain the queue, and Warden would refuse for ever.
                self._refresh_count()
                continue
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._write(batch)
            self._refresh_count()

    def _refresh_count(self) -> None:
        """Recount the work queue when the count is over a second old (one thread at a time)."""
        if time.monotonic() - self._counted_at > 1.0 and self._count_lock.acquire(False):
            try:
                self._count_pending()
            except OperationalError:
                log.warning("ingest.queue_count_failed")
            finally:
                self._count_lock.release()

    def _write(self, batch: list[_Job]) -> None:
        """Commit the batch in one transaction; should that fail, store each delivery in a
        savepoint of its own, so only the one at fault fails."""
        results: list[_Outcome]
        for attempt in range(_RETRIES):
            try:
                with self._store.session() as session:
                    results = list(store_many(session, [job.parsed for job in batch]))
                break
            except OperationalError as exc:
                if not _retryable(exc) or attempt == _RETRIES - 1:
                    results = self._write_each(batch)
                    break
                time.sleep(0.01 * (attempt + 1))
            except Exception:
                results = self._write_each(batch)
                break
        # One wake-up of each event loop for the whole batch, not one per delivery (a
        # concurrent Future per delivery and its asyncio wrapper, each waking the loop,
        # were an eighth of the loop's time under load).
        by_loop: defaultdict[asyncio.AbstractEventLoop, list[tuple[_Job, _Outcome]]] = (
            defaultdict(list))
        for job, outcome in zip(batch, results, strict=True):
            by_loop[job.loop].append((job, outcome))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # the loop closed meanwhile: nobody waits for the answers
                log.warning("ingest.loop_closed", deliveries=len(settled))

    def _write_each(self, batch: list[_Job]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        try:
            with self._store.session() as session:
                for job in batch:
                    try:
                        with session.begin_nested():
                            outcomes.append(store_parsed(session, job.parsed))
                    except (WardenError, SQLAlchemyError) as exc:
                        outcomes.append(_as_warden_error(exc))
        except Exception as exc:  # the commit itself failed: every delivery in it did
            return [_as_warden_error(exc)] * len(batch)
        return outcomes


def _settle(settled: list[tuple[_Job, _Outcome]]) -> None:
    """On the event loop: answer each waiting request (not one that gave up meanwhile)."""
    for job, outcome in settled:
        if job.result.done():
            continue
        if isinstance(outcome, BaseException):
            job.result.set_exception(outcome)
        else:
            job.result.set_result(outcome)


_RETRIES = 5
# PostgreSQL's deadlock_detected and serialization_failure: the transaction may succeed
# when run again.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}


def _retryable(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def _as_warden_error(exc: BaseException) -> BaseException:
    """The store could not take the write: 503 (retry), unless it is a Warden error or a bug."""
    if isinstance(exc, OperationalError):
        return OverloadedError(f"the store cannot take the write: {exc.orig}")
    if isinstance(exc, WardenError):
        return exc
    log.error("ingest.write_failed", error=repr(exc))
    return exc
