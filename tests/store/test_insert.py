"""``insert_rows``: many rows in one round trip, each id naming its own row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from warden.store import DeliveryRow, Store, insert_rows

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _deliveries(bodies: list[bytes]) -> list[dict[str, object]]:
    return [{"source": "generic", "received_at": NOW, "content_type": "application/json",
             "body": body} for body in bodies]


def test_each_id_names_its_own_row_in_order(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    with store.session() as session:
        first = insert_rows(session.connection(), DeliveryRow, _deliveries([b"a", b"b", b"c"]))
        one = insert_rows(session.connection(), DeliveryRow, _deliveries([b"d"]))
    with store.session() as session:
        # The newest row deleted (SQLite may give its id again): no older row's id is.
        session.execute(delete(DeliveryRow).where(DeliveryRow.id == one[0]))
        again = insert_rows(session.connection(), DeliveryRow, _deliveries([b"e", b"f"]))
    with store.session() as session:
        bodies = dict(session.execute(select(DeliveryRow.id, DeliveryRow.body)).tuples().all())
    assert [bodies[i] for i in first + again] == [b"a", b"b", b"c", b"e", b"f"]
    assert min(again) > max(first)
    store.dispose()
