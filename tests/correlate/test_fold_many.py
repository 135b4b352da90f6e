"""A writer batch folds as its deliveries would one by one, in a few statements."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, select

from warden import audit
from warden.audit import SEAL_INFO_KEY, AuditSeal
from warden.config import Settings
from warden.ingest.accept import Delivery, Parsed, parse, store_many, store_parsed
from warden.store import AlertRow, AuditRow, IncidentRow, Store

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SEAL = AuditSeal(key=b"k" * 32, anchor=None, key_origin="test")


def _store(url: str) -> Store:
    store = Store(url, session_info={SEAL_INFO_KEY: SEAL})
    store.migrate()
    return store


def _parsed(body: dict[str, Any], at: datetime = NOW) -> Parsed:
    settings = Settings(database_url="sqlite://")
    return parse(Delivery("generic", orjson.dumps(body), {}), settings=settings, now=at)


def _alert(title: str, **extra: Any) -> dict[str, Any]:
    return {"service": "checkout", "title": title, "severity": "low", **extra}


def _state(store: Store) -> tuple[list[tuple[Any, ...]], Counter[tuple[str, str]], bool]:
    """What a user sees: each incident by key, its alerts' statuses, the audit trail."""
    with store.session() as session:
        incidents = session.execute(select(IncidentRow).order_by(IncidentRow.key,
                                                                  IncidentRow.first_seen)
                                    ).scalars().all()
        by_id = {i.id: i.key for i in incidents}
        summary = [(i.title, i.status, i.alert_count, i.severity, i.pending_step)
                   for i in incidents]
        alerts = Counter((by_id[a.incident_id], a.status)
                         for a in session.execute(select(AlertRow)).scalars())
        kinds = Counter(row.kind for row in session.execute(select(AuditRow)).scalars())
        summary.append(("audit", tuple(sorted(kinds.items()))))
        return summary, alerts, audit.verify(session).ok


def test_a_batch_folds_as_its_deliveries_would_one_by_one(store_url: str,
                                                          tmp_path: Path) -> None:
    earlier = [_parsed(_alert("repeat me")), _parsed(_alert("resolve me"))]
    later = NOW + timedelta(minutes=1)
    batch = [
        _parsed(_alert("new one")),
        _parsed(_alert("new two", severity="critical")),
        _parsed(_alert("new one")),                        # redelivery in the same batch
        earlier[0],                                        # redelivery of a stored alert
        _parsed(_alert("repeat me", severity="high"), later),  # repeat: escalates
        _parsed(_alert("resolve me", status="resolved"), later),
        _parsed(_alert("opened and resolved")),
        _parsed(_alert("opened and resolved", status="resolved")),
    ]
    results = []
    stores = [_store(store_url)]
    if store_url.startswith("sqlite"):
        stores.append(_store(f"sqlite:///{tmp_path / 'one_by_one.db'}"))
    for n, store in enumerate(stores):
        with store.session() as session:
            store_many(session, earlier)
        if n == 0:
            with store.session() as session:
                folded = store_many(session, batch)
        else:
            folded = []
            for parsed in batch:
                with store.session() as session:
                    folded.append(store_parsed(session, parsed))
        flags = [[(f.duplicate, f.opened, f.resolved) for f in one] for one in folded]
        results.append((flags, _state(store)))
        store.dispose()
    flags, (incidents, alerts, chain_ok) = results[0]
    assert chain_ok
    assert flags == [[(False, True, False)], [(False, True, False)], [(True, False, False)],
                     [(True, False, False)], [(False, False, False)], [(False, False, True)],
                     [(False, True, False)], [(False, False, True)]]
    assert ("repeat me", "open", 2, "high", "triage") in incidents
    assert sum(alerts.values()) == 2 + 6  # the two redeliveries are stored once
    assert results[1:] in ([], [results[0]])  # SQLite: the same as one delivery at a time


def test_a_batch_of_distinct_alerts_takes_a_handful_of_statements(tmp_path: Path) -> None:
    store = _store(f"sqlite:///{tmp_path / 'warden.db'}")
    batch = [_parsed(_alert(f"fault {i}")) for i in range(256)]
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    with store.session() as session:
        folded = store_many(session, batch)
    assert len(statements) <= 16, statements  # a dozen in all, not several per alert
    assert all(one[0].opened for one in folded)
    assert len({one[0].alert_id for one in folded}) == 256
    with store.session() as session:
        stored = {row.id: row.title for row in session.execute(select(AlertRow)).scalars()}
        assert [stored[one[0].alert_id] for one in folded] == [f"fault {i}" for i in range(256)]
        assert audit.verify(session).ok
    store.dispose()


def test_folding_scans_no_table_however_many_incidents(tmp_path: Path) -> None:
    """Each lookup of a fold, the batch's set-based ones included, goes through an index
    (SQLite matches the bound ``status`` to the open-key partial index), so storing an
    alert does not slow down as incidents accumulate."""
    store = _store(f"sqlite:///{tmp_path / 'warden.db'}")
    with store.session() as session:
        store_many(session, [_parsed(_alert(f"fault {i}")) for i in range(50)])
    later = NOW + timedelta(minutes=1)
    statements: list[tuple[str, Any]] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _k, sql, params, *_: statements.append((sql, params)))
    with store.session() as session:  # a repeat, a resolve, a new alert, a redelivery
        store_many(session, [_parsed(_alert("fault 1", severity="high"), later),
                             _parsed(_alert("fault 2", status="resolved"), later),
                             _parsed(_alert("fault new")), _parsed(_alert("fault 3"))])
    plans = []
    with store.engine.connect() as connection:
        for sql, params in statements:
            if sql.lstrip().upper().startswith("SELECT"):
                plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
                plans.extend(str(row[-1]) for row in plan)
    # (The newest audit event is read by scanning ids backwards, which stops at the first.)
    assert plans and not {"SCAN incidents", "SCAN alerts"} & set(plans), plans
    store.dispose()
