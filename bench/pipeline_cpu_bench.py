"""CPU cost per incident of the pipeline on the rules provider, beside ingest's, free of a
loaded machine's noise.

    .venv/bin/python bench/pipeline_cpu_bench.py [--incidents 2000]

Stores ``--incidents`` distinct generic alerts (each opens an incident) the way the
ingest writer does (``store_many``, batches of 32, a SQLite file with fsync), then lets
the pipeline's runner (rules provider, the built-in policy, notices to the log) take
every incident through all its steps. Prints the process CPU time per alert for the
first and per incident for the second (``time.process_time``: every thread's CPU, which
a busy neighbour barely inflates, unlike wall-clock time), their ratio, the statements
each ran and the wall times. The rules storm of ``pipeline_bench.py`` keeps up with ingest
only when this ratio is well under one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import event, func, select

from warden.app import Warden
from warden.config import Settings
from warden.ingest.accept import Delivery, parse, store_many
from warden.store import IncidentRow

BATCH = 32


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
                            audit_key_file=Path(tmp) / "audit.key", log_level="WARNING",
                            queue_max_pending=10**9)
        warden = Warden(settings)
        warden.store.migrate()
        statements = 0

        def count(*_: object) -> None:
            nonlocal statements
            statements += 1

        event.listen(warden.store.engine, "before_cursor_execute", count)
        now = datetime.now(UTC)
        deliveries = [parse(Delivery("generic", orjson.dumps({
            "service": f"svc-{i}", "title": f"fault {i}: p99 latency 3s", "severity": "high",
        }), {}), settings=settings, now=now) for i in range(args.incidents)]
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(deliveries), BATCH):
            with warden.store.session() as session:
                store_many(session, deliveries[start:start + BATCH])
        ingest_cpu, ingest_wall = time.process_time() - cpu, time.perf_counter() - wall
        ingest_statements, statements = statements, 0

        cpu, wall = time.process_time(), time.perf_counter()
        warden.start(run_worker=True)
        while _pending(warden):
            time.sleep(0.05)
        pipeline_cpu, pipeline_wall = time.process_time() - cpu, time.perf_counter() - wall
        warden.stop()
        n = args.incidents
        print(f"ingest (store_many): {ingest_cpu / n * 1e6:.0f} us CPU/alert, "
              f"{ingest_statements / n:.1f} statements/alert, {ingest_wall:.1f} s wall")
        print(f"pipeline (rules, every step): {pipeline_cpu / n * 1e6:.0f} us CPU/incident, "
              f"{statements / n:.1f} statements/incident, {pipeline_wall:.1f} s wall, "
              f"{threading.active_count()} threads left")
        print(f"ratio pipeline/ingest CPU: {pipeline_cpu / ingest_cpu:.2f}")
    return 0


def _pending(warden: Warden) -> int:
    with warden.store.session() as session:
        return int(session.execute(select(func.count()).select_from(IncidentRow).where(
            IncidentRow.pending_step.is_not(None))).scalar_one())


if __name__ == "__main__":
    sys.exit(main())
