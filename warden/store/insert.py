"""Insert many rows in one round trip and learn their ids, on both databases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, Select, func, insert, select

from warden.store.tables import Base


def insert_rows(
    connection: Connection, table: type[Base], rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Insert ``rows`` into ``table`` (whose ``id`` the database generates) inside the
    connection's transaction; returns their ids in the order of ``rows``.

    On SQLite the ids are assigned here, after the newest row's, and the rows go in with one
    ``executemany``: SQLite cannot tie ``RETURNING`` rows to their parameters, so SQLAlchemy
    would insert them one statement each. Sound because every SQLite transaction holds the
    write lock from its start (``BEGIN IMMEDIATE``, store/db.py), so no other writer takes
    an id in between. Elsewhere, and for a single row, one ``INSERT ... RETURNING``.
    """
    if not rows:
        return []
    statements = _statements(table)
    if len(rows) == 1 or connection.dialect.name != "sqlite":
        return [int(i) for i in connection.execute(statements.returning_ids, list(rows)).scalars()]
    newest: int = connection.execute(statements.newest_id).scalar() or 0
    ids = list(range(newest + 1, newest + 1 + len(rows)))
    connection.execute(statements.plain,
                       [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
    return ids


@dataclass(frozen=True, slots=True)
class _Statements:
    plain: Insert
    returning_ids: Insert
    newest_id: Select[Any]


@cache
def _statements(table: type[Base]) -> _Statements:
    # Built once per table: building and cache-keying a statement costs more than running it.
    id_column = table.__table__.c.id
    return _Statements(
        plain=insert(table),
        returning_ids=insert(table).returning(id_column, sort_by_parameter_order=True),
        newest_id=select(func.max(id_column)),
    )
