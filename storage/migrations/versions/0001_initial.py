"""Initial schema: prompts, generations, battles, annotators, votes.

Revision ID: 0001
Revises:
Create Date: 2025-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("prompt_set", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prompts"),
        sa.UniqueConstraint("digest", name="uq_prompts_digest"),
    )
    op.create_index("ix_prompts_prompt_set", "prompts", ["prompt_set"])
    _generations()
    _battles()
    op.create_table(
        "annotators",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_annotators"),
    )
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battle_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.String(64), nullable=False),
        sa.Column("choice", sa.String(8), nullable=False),
        sa.Column("rationale", sa.String(500), nullable=True),
        sa.Column("ms_to_vote", sa.Integer(), nullable=True),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_votes"),
        sa.ForeignKeyConstraint(["battle_id"], ["battles.id"], name="fk_votes_battle_id_battles"),
        sa.ForeignKeyConstraint(["annotator_id"], ["annotators.id"], name="fk_votes_annotator_id_annotators"),
        sa.UniqueConstraint("battle_id", name="uq_votes_battle_id"),
        sa.CheckConstraint("choice IN ('left', 'right', 'tie', 'both_bad')", name="ck_votes_choice"),
        sa.CheckConstraint("ms_to_vote IS NULL OR ms_to_vote >= 0", name="ck_votes_ms_to_vote"),
    )
    op.create_index("ix_votes_annotator_id", "votes", ["annotator_id"])


def _generations() -> None:
    op.create_table(
        "generations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("decoder", sa.String(64), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("rewards", sa.JSON(), nullable=False),
        sa.Column("preset", sa.String(64), nullable=False),
        sa.Column("model_ids", sa.JSON(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.Column("reward", sa.Float(), nullable=True),
        sa.Column("reward_parts", sa.JSON(), nullable=False),
        sa.Column("cost", sa.JSON(), nullable=False),
        sa.Column("stop_reason", sa.String(16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_generations"),
        sa.ForeignKeyConstraint(["prompt_id"], ["prompts.id"], name="fk_generations_prompt_id_prompts"),
        sa.CheckConstraint("stop_reason IN ('eos', 'max_new_tokens', 'cancelled', 'error')",
                           name="ck_generations_stop_reason"),
    )
    op.create_index("ix_generations_prompt_id", "generations", ["prompt_id"])
    op.create_index("ix_generations_label", "generations", ["label"])


def _battles() -> None:
    op.create_table(
        "battles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation_a_id", sa.Integer(), nullable=False),
        sa.Column("generation_b_id", sa.Integer(), nullable=False),
        sa.Column("blind", sa.Boolean(), nullable=False),
        sa.Column("left_side", sa.String(1), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_battles"),
        sa.ForeignKeyConstraint(["generation_a_id"], ["generations.id"], name="fk_battles_generation_a_id_generations"),
        sa.ForeignKeyConstraint(["generation_b_id"], ["generations.id"], name="fk_battles_generation_b_id_generations"),
        sa.CheckConstraint("generation_a_id <> generation_b_id", name="ck_battles_distinct"),
        sa.CheckConstraint("left_side IN ('a', 'b')", name="ck_battles_left_side"),
        sa.CheckConstraint("status IN ('open', 'voted')", name="ck_battles_status"),
    )
    op.create_index("ix_battles_generation_a_id", "battles", ["generation_a_id"])
    op.create_index("ix_battles_generation_b_id", "battles", ["generation_b_id"])
    op.create_index("ix_battles_status", "battles", ["status"])


def downgrade() -> None:
    for table in ("votes", "annotators", "battles", "generations", "prompts"):
        op.drop_table(table)
