"""evidence: the incident's evidence items, and full-text search over past incidents (issue 18)

SQLite gets an FTS5 index kept in step with ``incidents`` by triggers; PostgreSQL a GIN
index on the same text as a ``tsvector``, which its full-text search uses.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-03 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0010"
branch_labels = None
depends_on = None

_SQLITE_UP = (
    "CREATE VIRTUAL TABLE incidents_fts USING fts5("
    "title, description, content='incidents', content_rowid='id', tokenize='porter')",
    "CREATE TRIGGER incidents_fts_insert AFTER INSERT ON incidents BEGIN "
    "INSERT INTO incidents_fts(rowid, title, description) "
    "VALUES (new.id, new.title, new.description); END",
    "CREATE TRIGGER incidents_fts_delete AFTER DELETE ON incidents BEGIN "
    "INSERT INTO incidents_fts(incidents_fts, rowid, title, description) "
    "VALUES ('delete', old.id, old.title, old.description); END",
    "CREATE TRIGGER incidents_fts_update AFTER UPDATE OF title, description ON incidents "
    "BEGIN INSERT INTO incidents_fts(incidents_fts, rowid, title, description) "
    "VALUES ('delete', old.id, old.title, old.description); "
    "INSERT INTO incidents_fts(rowid, title, description) "
    "VALUES (new.id, new.title, new.description); END",
    "INSERT INTO incidents_fts(incidents_fts) VALUES ('rebuild')",
)
_SQLITE_DOWN = (
    "DROP TRIGGER incidents_fts_update",
    "DROP TRIGGER incidents_fts_delete",
    "DROP TRIGGER incidents_fts_insert",
    "DROP TABLE incidents_fts",
)
# The expression must match warden/store/similar.py's, or the index is not used.
_PG_UP = (
    "CREATE INDEX ix_incidents_text ON incidents USING GIN "
    "(to_tsvector('english', title || ' ' || description))",
)
_PG_DOWN = ("DROP INDEX ix_incidents_text",)


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("evidence_at", sa.DateTime(timezone=True),
                                      nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_UP if sqlite else _PG_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_DOWN if sqlite else _PG_DOWN:
        op.execute(statement)
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("evidence_at")
        batch_op.drop_column("evidence")
