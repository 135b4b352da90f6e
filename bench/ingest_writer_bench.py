"""CPU cost per alert of the ingest writer's store step, free of a loaded machine's noise.

    .venv/bin/python bench/ingest_writer_bench.py [--batches 20] [--batch-size 32 256]

Stores batches of distinct generic alerts (each opens an incident) with ``store_many`` in
one transaction per batch, as the writer thread does, on a SQLite file with fsync. Prints
the writer thread's CPU time per alert (``time.process_time``: what a busy neighbour does
not inflate, unlike wall-clock throughput), the statements per batch and the wall time,
then checks the audit chain. Compare two commits by running it at each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import event

from warden import audit
from warden.audit import SEAL_INFO_KEY, AuditSeal
from warden.config import Settings
from warden.ingest.accept import Delivery, Parsed, parse, store_many
from warden.store import Store


def batches(count: int, size: int, settings: Settings, run: str) -> list[list[Parsed]]:
    now = datetime.now(UTC)
    return [[parse(Delivery("generic", orjson.dumps({
        "service": f"svc-{i % 50}", "title": f"{run}-{b}-{i} disk filling up", "severity": "high",
        "description": "bench", "labels": {"n": str(i)}}), {}), settings=settings, now=now)
        for i in range(size)] for b in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[32, 256])
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        seal = AuditSeal(key=b"k" * 32, anchor=None, key_origin="bench")
        store = Store(url, session_info={SEAL_INFO_KEY: seal})
        store.migrate()
        statements = 0

        def count(*_: object) -> None:
            nonlocal statements
            statements += 1

        event.listen(store.engine, "before_cursor_execute", count)
        settings = Settings(database_url=url)
        for size in args.batch_size:
            work = batches(args.batches, size, settings, f"b{size}")
            statements, cpu_s, started = 0, 0.0, time.perf_counter()
            for batch in work:
                before = time.process_time()
                with store.session() as session:
                    store_many(session, batch)
                cpu_s += time.process_time() - before
            wall_s = time.perf_counter() - started
            alerts = args.batches * size
            print(f"batches of {size:4d}: CPU {cpu_s / alerts * 1e6:5.0f} us/alert, "
                  f"{statements / args.batches:6.1f} statements/batch, "
                  f"wall {wall_s / alerts * 1e6:5.0f} us/alert")
        with store.session() as session:
            report = audit.verify(session)
        ok = report.ok
        print(f"audit chain: {report.events} events, {'verifies' if ok else report.problem}")
        store.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
