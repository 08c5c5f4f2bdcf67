"""What the store hands out: frozen, plain records (no ORM objects, no open sessions).

The UI and the CLIs see only these; `backends.ranking` reads `VoteRow`s through its own
protocol (`config_a`, `config_b`, `outcome`, `left_side`, `annotator`). Sides are named `a`
and `b` (the battle's two generations); `left_side` says which one the annotator saw on the left,
and a vote's `outcome` translates its on-screen `choice` (left/right) into a/b.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

# The values and sizes the columns allow (storage.models declares them; validate checks them first,
# without importing SQLAlchemy).
STOP_REASONS = ("eos", "max_new_tokens", "cancelled", "error")
FINISHED = ("eos", "max_new_tokens")  # generations a vote may judge
RATIONALE_CHARS = 500
ANNOTATOR_CHARS = 64
LABEL_CHARS = 255

Side = Literal["a", "b"]
Choice = Literal["left", "right", "tie", "both_bad"]
CHOICES: tuple[str, ...] = get_args(Choice)
Outcome = Literal["a", "b", "tie", "both_bad"]


def other(side: Side) -> Side:
    return "b" if side == "a" else "a"


def outcome_of(choice: Choice, left_side: Side) -> Outcome:
    """The on-screen choice as a verdict on generations a and b."""
    if choice == "left":
        return left_side
    if choice == "right":
        return other(left_side)
    return choice


@dataclass(frozen=True)
class Generation:
    """One stored decoder run. `trace` is empty unless it was asked for (it can be large)."""

    id: int
    prompt: str
    prompt_set: str
    decoder: str
    label: str
    config: dict[str, Any]
    rewards: dict[str, Any]
    preset: str
    model_ids: dict[str, Any]
    request: dict[str, Any]
    seed: int | None
    text: str
    reward: float | None
    reward_parts: dict[str, Any]
    cost: dict[str, Any]
    stop_reason: str | None
    error: str | None
    created_at: datetime
    trace: tuple[dict[str, Any], ...] = ()

    @property
    def finished(self) -> bool:
        return self.stop_reason in ("eos", "max_new_tokens")


@dataclass(frozen=True)
class Vote:
    """A stored vote."""

    id: int
    battle_id: int
    annotator_id: str
    choice: Choice
    outcome: Outcome
    rationale: str | None
    ms_to_vote: int | None
    created_at: datetime


@dataclass(frozen=True)
class BattleView:
    """A battle with both generations, ready to show: `left`/`right` are resolved from `left_side`."""

    id: int
    prompt: str
    prompt_set: str
    blind: bool
    left_side: Side
    status: Literal["open", "voted"]
    created_at: datetime
    a: Generation
    b: Generation
    vote: Vote | None = None

    @property
    def left(self) -> Generation:
        return self.a if self.left_side == "a" else self.b

    @property
    def right(self) -> Generation:
        return self.b if self.left_side == "a" else self.a


@dataclass(frozen=True)
class VoteRow:
    """One vote as the ranking reads it: which configurations met, who won, on which side."""

    vote_id: int
    battle_id: int
    config_a: str
    config_b: str
    outcome: Outcome
    choice: Choice
    left_side: Side
    blind: bool
    prompt_set: str
    annotator: str
    created_at: datetime
    ms_to_vote: int | None


@dataclass(frozen=True)
class VoteFilter:
    """Which votes to read: blind ones only, one prompt set, a time window [since, until), one annotator."""

    blind_only: bool = False
    prompt_set: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    annotator: str | None = None


@dataclass(frozen=True)
class BattleNeed:
    """An open, votable battle and how many votes its configuration pair already has."""

    battle_id: int
    config_a: str
    config_b: str
    pair_votes: int

    @property
    def weight(self) -> float:
        """Sampling weight that favours pairs with few votes."""
        return 1.0 / (1.0 + self.pair_votes)


@dataclass(frozen=True)
class AnnotatorProgress:
    """How far one annotator has got."""

    annotator_id: str
    votes: int
    first_vote_at: datetime | None
    last_vote_at: datetime | None
    open_battles: int  # votable battles still waiting for anyone's vote


def pseudonymous(rows: Sequence[VoteRow]) -> list[VoteRow]:
    """The rows with each annotator id replaced by "annotator N" (N in order of first vote)."""
    names: dict[str, str] = {}
    return [dataclasses.replace(r, annotator=names.setdefault(r.annotator, f"annotator {len(names) + 1}"))
            for r in rows]
