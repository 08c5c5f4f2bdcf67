"""The SELECT statements the store runs, and ORM rows turned into plain records.

Kept apart from `storage.store` (which owns sessions, transactions and retries) so each query
reads on its own. Every function here takes an open `Session` or builds a statement; none commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session, aliased

from storage import models as m
from storage.records import FINISHED, BattleNeed, BattleView, Generation, Vote, VoteFilter, VoteRow, outcome_of

GenA = aliased(m.Generation, name="gen_a")
GenB = aliased(m.Generation, name="gen_b")
FINISHED_BOTH = and_(GenA.stop_reason.in_(FINISHED), GenB.stop_reason.in_(FINISHED))


def generation(row: m.Generation, trace: bool = False) -> Generation:
    return Generation(
        id=row.id, prompt=row.prompt.text, prompt_set=row.prompt.prompt_set, decoder=row.decoder, label=row.label,
        config=row.config, rewards=row.rewards, preset=row.preset, model_ids=row.model_ids, request=row.request,
        seed=row.seed,
        text=row.text, reward=row.reward, reward_parts=row.reward_parts, cost=row.cost,
        stop_reason=row.stop_reason, error=row.error, created_at=row.created_at,
        trace=tuple(row.trace) if trace else ())


def vote(row: m.Vote, left_side: str) -> Vote:
    return Vote(id=row.id, battle_id=row.battle_id, annotator_id=row.annotator_id, choice=row.choice,
                outcome=outcome_of(row.choice, left_side), rationale=row.rationale, ms_to_vote=row.ms_to_vote,
                created_at=row.created_at)


def battle(row: m.Battle, vote_row: m.Vote | None, trace: bool = False) -> BattleView:
    return BattleView(
        id=row.id, prompt=row.generation_a.prompt.text, prompt_set=row.generation_a.prompt.prompt_set,
        blind=row.blind, left_side=row.left_side, status=row.status, created_at=row.created_at,
        a=generation(row.generation_a, trace), b=generation(row.generation_b, trace),
        vote=None if vote_row is None else vote(vote_row, row.left_side))


def vote_target(session: Session, battle_id: int) -> Any:
    """One round trip for a vote: the battle (locked on PostgreSQL), both generations' state, any vote.

    Row fields: id, left_side, status, gen_a, stop_a, gen_b, stop_b, Vote (None if unvoted); None: no
    battle. After waiting for the lock, PostgreSQL re-reads the locked battle row (so `status` is
    current) but not the joined vote, which is why callers look at `status` too.
    """
    stmt = (select(m.Battle.id, m.Battle.left_side, m.Battle.status, GenA.id.label("gen_a"),
                   GenA.stop_reason.label("stop_a"), GenB.id.label("gen_b"), GenB.stop_reason.label("stop_b"), m.Vote)
            .join(GenA, m.Battle.generation_a_id == GenA.id).join(GenB, m.Battle.generation_b_id == GenB.id)
            .outerjoin(m.Vote, m.Vote.battle_id == m.Battle.id)
            .where(m.Battle.id == battle_id).with_for_update(of=m.Battle))
    return session.execute(stmt).one_or_none()


def vote_of(session: Session, battle_id: int) -> m.Vote | None:
    return session.scalar(select(m.Vote).where(m.Vote.battle_id == battle_id))


def _voted() -> Select[Any]:
    """Votes joined to their battle, both generations and the prompt (columns added by callers)."""
    return (select(m.Vote, m.Battle, GenA.label, GenB.label, m.Prompt.prompt_set)
            .join(m.Battle, m.Vote.battle_id == m.Battle.id)
            .join(GenA, m.Battle.generation_a_id == GenA.id)
            .join(GenB, m.Battle.generation_b_id == GenB.id)
            .join(m.Prompt, GenA.prompt_id == m.Prompt.id))


def filtered(stmt: Select[Any], f: VoteFilter) -> Select[Any]:
    """Apply a `VoteFilter` to a statement over `_voted()`'s joins."""
    if f.blind_only:
        stmt = stmt.where(m.Battle.blind.is_(True))
    if f.prompt_set is not None:
        stmt = stmt.where(m.Prompt.prompt_set == f.prompt_set)
    if f.since is not None:
        stmt = stmt.where(m.Vote.created_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(m.Vote.created_at < f.until)
    if f.annotator is not None:
        stmt = stmt.where(m.Vote.annotator_id == f.annotator)
    return stmt


def vote_rows(session: Session, f: VoteFilter) -> list[VoteRow]:
    rows = session.execute(filtered(_voted(), f).order_by(m.Vote.id)).all()
    return [VoteRow(vote_id=v.id, battle_id=b.id, config_a=la, config_b=lb, outcome=outcome_of(v.choice, b.left_side),
                    choice=v.choice, left_side=b.left_side, blind=b.blind, prompt_set=ps, annotator=v.annotator_id,
                    created_at=v.created_at, ms_to_vote=v.ms_to_vote)
            for v, b, la, lb, ps in rows]


def voted_battle_ids(session: Session, f: VoteFilter) -> list[int]:
    return list(session.scalars(filtered(select(m.Battle.id).select_from(m.Vote)
                                         .join(m.Battle, m.Vote.battle_id == m.Battle.id)
                                         .join(GenA, m.Battle.generation_a_id == GenA.id)
                                         .join(m.Prompt, GenA.prompt_id == m.Prompt.id), f)
                                .order_by(m.Battle.id)))


def battles_by_id(session: Session, ids: Sequence[int], trace: bool) -> list[BattleView]:
    battles = session.scalars(select(m.Battle).where(m.Battle.id.in_(ids)).order_by(m.Battle.id)).all()
    votes = {v.battle_id: v for v in session.scalars(select(m.Vote).where(m.Vote.battle_id.in_(ids)))}
    return [battle(b, votes.get(b.id), trace) for b in battles]


def pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def pair_votes(session: Session) -> Counter[tuple[str, str]]:
    """Votes per unordered configuration pair."""
    stmt = (select(GenA.label, GenB.label, func.count(m.Vote.id))
            .select_from(m.Vote).join(m.Battle, m.Vote.battle_id == m.Battle.id)
            .join(GenA, m.Battle.generation_a_id == GenA.id).join(GenB, m.Battle.generation_b_id == GenB.id)
            .group_by(GenA.label, GenB.label))
    counts: Counter[tuple[str, str]] = Counter()
    for la, lb, n in session.execute(stmt):
        counts[pair_key(la, lb)] += n
    return counts


def open_battles(session: Session, blind: bool | None, scan: int) -> list[tuple[int, str, str]]:
    """(battle id, label a, label b) of the `scan` oldest open battles whose generations both finished."""
    stmt = (select(m.Battle.id, GenA.label, GenB.label)
            .join(GenA, m.Battle.generation_a_id == GenA.id).join(GenB, m.Battle.generation_b_id == GenB.id)
            .where(m.Battle.status == "open", FINISHED_BOTH))
    if blind is not None:
        stmt = stmt.where(m.Battle.blind.is_(blind))
    return [tuple(row) for row in session.execute(stmt.order_by(m.Battle.id).limit(scan))]


def needs(session: Session, blind: bool | None, limit: int, scan: int) -> list[BattleNeed]:
    """Open battles, those whose configuration pair has the fewest votes first (then the oldest)."""
    counts = pair_votes(session)
    found = [BattleNeed(bid, la, lb, counts[pair_key(la, lb)]) for bid, la, lb in open_battles(session, blind, scan)]
    return sorted(found, key=lambda n: (n.pair_votes, n.battle_id))[:limit]


def open_count(session: Session) -> int:
    stmt = (select(func.count(m.Battle.id)).join(GenA, m.Battle.generation_a_id == GenA.id)
            .join(GenB, m.Battle.generation_b_id == GenB.id).where(m.Battle.status == "open", FINISHED_BOTH))
    return session.scalar(stmt) or 0
