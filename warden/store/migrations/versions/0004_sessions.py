"""console sessions in the store; each verdict names the decision it judged

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("token_tag", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    with op.batch_alter_table("approvals") as batch_op:
        batch_op.add_column(sa.Column("decision_digest", sa.String(64), nullable=True))
        batch_op.create_unique_constraint(
            "uq_approvals_one_verdict", ["incident_id", "decision_digest", "approver"])


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch_op:
        batch_op.drop_constraint("uq_approvals_one_verdict", type_="unique")
        batch_op.drop_column("decision_digest")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_table("sessions")
