"""Votes get a client token (a retried vote recognises itself) and an index on their time.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("votes") as batch:
        batch.add_column(sa.Column("client_token", sa.String(32), nullable=True))
        batch.create_unique_constraint("uq_votes_client_token", ["client_token"])
        batch.create_index("ix_votes_created_at", ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("votes") as batch:
        batch.drop_index("ix_votes_created_at")
        batch.drop_constraint("uq_votes_client_token", type_="unique")
        batch.drop_column("client_token")
