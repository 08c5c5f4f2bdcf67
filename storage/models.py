"""The tables: prompts, generations, battles, votes and annotators (SQLAlchemy 2 typed models).

A generation keeps everything needed to reproduce it (decoder, config, reward weights, preset and
model ids, seed) next to its text and full event trace; a battle pairs two generations of one
prompt and remembers which was shown on the left; a vote judges one battle, once. This module
declares columns and constraints only: queries live in `storage.store`, schema changes in
`storage/migrations` (a test checks that the migrations build exactly these tables).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.records import ANNOTATOR_CHARS, CHOICES, LABEL_CHARS, RATIONALE_CHARS, STOP_REASONS

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone, so add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Prompt(Base):
    """A prompt text, optionally tagged with the prompt set it came from ('' when typed by hand)."""

    __tablename__ = "prompts"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of (prompt_set, text)
    text: Mapped[str] = mapped_column(Text)
    prompt_set: Mapped[str] = mapped_column(String(64), default="", server_default="", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Generation(Base):
    """One decoder run: how to reproduce it, what it wrote, its trace, reward and cost."""

    __tablename__ = "generations"
    __table_args__ = (CheckConstraint(f"stop_reason IN {STOP_REASONS}", name="stop_reason"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"), index=True)
    decoder: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(LABEL_CHARS), index=True)  # the ranked configuration
    config: Mapped[dict[str, Any]]
    rewards: Mapped[dict[str, Any]]  # reward name -> weight
    preset: Mapped[str] = mapped_column(String(64))
    model_ids: Mapped[dict[str, Any]]  # role (policy, base, reward:...) -> model id
    request: Mapped[dict[str, Any]]  # the whole GenerationRequest (max_new_tokens, keywords, ...) for replay
    seed: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text, default="")
    trace: Mapped[list[Any]] = mapped_column(deferred=True)  # events.to_dict of every event, Finished last
    reward: Mapped[float | None] = mapped_column(Float)
    reward_parts: Mapped[dict[str, Any]]
    cost: Mapped[dict[str, Any]]
    stop_reason: Mapped[str | None] = mapped_column(String(16))  # None while still running
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prompt: Mapped[Prompt] = relationship(lazy="joined")


class Battle(Base):
    """Two generations of one prompt shown side by side; `left_side` says which one was left."""

    __tablename__ = "battles"
    __table_args__ = (
        CheckConstraint("generation_a_id <> generation_b_id", name="distinct"),
        CheckConstraint("left_side IN ('a', 'b')", name="left_side"),
        CheckConstraint("status IN ('open', 'voted')", name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    generation_a_id: Mapped[int] = mapped_column(ForeignKey("generations.id"), index=True)
    generation_b_id: Mapped[int] = mapped_column(ForeignKey("generations.id"), index=True)
    blind: Mapped[bool] = mapped_column(default=True)
    left_side: Mapped[str] = mapped_column(String(1))
    status: Mapped[str] = mapped_column(String(8), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    generation_a: Mapped[Generation] = relationship(foreign_keys=[generation_a_id])
    generation_b: Mapped[Generation] = relationship(foreign_keys=[generation_b_id])


class Annotator(Base):
    """A voter, identified by an id string the browser keeps."""

    __tablename__ = "annotators"
    id: Mapped[str] = mapped_column(String(ANNOTATOR_CHARS), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Vote(Base):
    """The judgement of one battle (at most one: `battle_id` is unique)."""

    __tablename__ = "votes"
    __table_args__ = (
        CheckConstraint(f"choice IN {CHOICES}", name="choice"),
        CheckConstraint("ms_to_vote IS NULL OR ms_to_vote >= 0", name="ms_to_vote"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[int] = mapped_column(ForeignKey("battles.id"), unique=True)
    annotator_id: Mapped[str] = mapped_column(ForeignKey("annotators.id"), index=True)
    choice: Mapped[str] = mapped_column(String(8))
    rationale: Mapped[str | None] = mapped_column(String(RATIONALE_CHARS))
    ms_to_vote: Mapped[int | None] = mapped_column(Integer)
    # set per cast_vote call: a retry after a lost commit recognises its own vote (migration 0002)
    client_token: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    battle: Mapped[Battle] = relationship()
