"""key what the store counts and remembers about a service by its service key

The service key is the name ASCII-lower-cased (policy.md, "One service, one key"):
executions get an indexed ``service_key`` column, backfilled; the cost ledger's service
becomes the key (its per-service model-call limit counts every spelling); freezes, keyed
by the service, are re-keyed (case variants frozen twice become one freeze, the oldest).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 06:40:00
"""

from __future__ import annotations

import string

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The migration keeps its own copy of the rule: it must not change if the code does.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch_op:
        batch_op.add_column(sa.Column("service_key", sa.String(255), nullable=True))
    executions = sa.table(
        "executions", sa.column("id", sa.BigInteger), sa.column("service", sa.String),
        sa.column("service_key", sa.String),
    )
    bind = op.get_bind()
    names = bind.execute(sa.select(executions.c.service).distinct()).scalars().all()
    for name in names:
        bind.execute(
            executions.update().where(executions.c.service == name)
            .values(service_key=name.translate(_ASCII_LOWER))
        )
    with op.batch_alter_table("executions") as batch_op:
        batch_op.alter_column("service_key", existing_type=sa.String(255), nullable=False)
        batch_op.drop_index("ix_executions_service_at")
        batch_op.create_index("ix_executions_service_key_at", ["service_key", "started_at"])

    ledger = sa.table("cost_ledger", sa.column("service", sa.String))
    for name in bind.execute(sa.select(ledger.c.service).distinct()).scalars().all():
        if name.translate(_ASCII_LOWER) != name:
            bind.execute(ledger.update().where(ledger.c.service == name)
                         .values(service=name.translate(_ASCII_LOWER)))

    freezes = sa.table("freezes", sa.column("service", sa.String), sa.column("at", sa.DateTime))
    oldest: dict[str, str] = {}
    for name in bind.execute(sa.select(freezes.c.service)
                             .order_by(freezes.c.at, freezes.c.service)).scalars().all():
        key = name.translate(_ASCII_LOWER)
        if key in oldest:
            bind.execute(freezes.delete().where(freezes.c.service == name))
        else:
            oldest[key] = name
    for key, name in oldest.items():
        if key != name:
            bind.execute(freezes.update().where(freezes.c.service == name).values(service=key))


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch_op:
        batch_op.drop_index("ix_executions_service_key_at")
        batch_op.create_index("ix_executions_service_at", ["service", "started_at"])
        batch_op.drop_column("service_key")
