"""`Store`: the one service that reads and writes the playground's database.

The UI and the CLIs call only this (and the plain records it returns). Every call is one whole
transaction wrapped in bounded retries, so a briefly locked or unreachable database is retried
and then reported as `StoreUnavailable`; a request that is wrong is `Refused` with the field and
value, and stores nothing. `cast_vote` returns only after the vote is committed: a retry after an
ambiguous commit recognises its own vote by a per-call token instead of voting twice or
reporting a duplicate, and an annotator whose earlier vote was stored without a confirmation (a
crash) is told that it counts (`AlreadyVoted`). A database that refuses writes (read-only, disk
full) is a `StoreFault` saying nothing was stored and why; `self_check` finds that out at start-up
by writing a row and reading it back. The statistics on the votes live in `backends.ranking`, not here.

    store = Store.open()                        # DATABASE_URL or storage/playground.db, upgraded to head
    gen_a = store.save_generation({"prompt": p, "decoder": "args", "config": {...}, "trace": events})
    battle = store.create_battle(gen_a, gen_b, blind=True)        # left side drawn at random
    vote = store.cast_vote(battle, "browser-id", "left", "clearer", ms_to_vote=5300)
    rows = store.vote_rows(VoteFilter(blind_only=True))           # -> backends.ranking.leaderboard(rows)
    print(store.self_check())                                     # "votes are stored in sqlite:///... (checked...)"
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import database, queries, validate
from storage import models as m
from storage.errors import AlreadyVoted, Refused, StoreFault, StoreUnavailable
from storage.records import (
    FINISHED,
    AnnotatorProgress,
    BattleNeed,
    BattleView,
    Generation,
    Side,
    Vote,
    VoteFilter,
    VoteRow,
    pseudonymous,
)
from storage.retry import Retry

T = TypeVar("T")
log = logging.getLogger(__name__)
TABLES = {"prompts": m.Prompt, "generations": m.Generation, "battles": m.Battle, "votes": m.Vote,
          "annotators": m.Annotator}


class Store:
    """Votes, battles and generations in SQLite or PostgreSQL. Thread-safe: share one per process."""

    def __init__(self, engine: Engine, *, retry: Retry | None = None, rng: random.Random | None = None):
        self.engine = engine
        self.retry = retry or Retry()
        self._writer = engine.execution_options(**{database.IMMEDIATE: True})
        self._rng = rng or random.Random()

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True, retry: Retry | None = None,
             busy_timeout_ms: int = 5000, pool_size: int = 10, rng: random.Random | None = None) -> Store:
        """Connect to `url` (else `DATABASE_URL`, else storage/playground.db) and `upgrade head`.

        `busy_timeout_ms` is how long one attempt waits for a lock (SQLite busy_timeout,
        PostgreSQL lock_timeout); `retry` how many attempts a call gets. `pool_size`: PostgreSQL only.
        """
        engine = database.create(url, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size)
        store = cls(engine, retry=retry, rng=rng)
        if migrate:
            store.retry.run("create or upgrade the schema", lambda: database.migrate(store.engine), store.url)
        return store

    @property
    def url(self) -> str:
        return database.safe_url(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _read(self, what: str, fn: Callable[[Session], T]) -> T:
        def attempt() -> T:
            with Session(self.engine) as session:
                return fn(session)
        return self.retry.run(what, attempt, self.url, self._rng)

    def _write(self, what: str, fn: Callable[[Session], T]) -> T:
        def attempt() -> T:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                return fn(session)
        return self.retry.run(what, attempt, self.url, self._rng)

    # ---- writes -------------------------------------------------------------------------------

    def save_generation(self, record: Mapping[str, Any]) -> int:
        """Store one generation (see `storage.validate.generation` for the keys); returns its id."""
        values = validate.generation(record)
        prompt, prompt_set = values.pop("prompt"), values.pop("prompt_set")

        def write(session: Session) -> int:
            row = m.Generation(prompt_id=_prompt_id(session, prompt, prompt_set), **values)
            session.add(row)
            session.flush()
            return row.id
        return self._write("save the generation", write)

    def create_battle(self, generation_a: int, generation_b: int, *, blind: bool = True,
                      left: Side | None = None) -> int:
        """Pair two generations of one prompt; `left` is the side shown left (None: drawn at random)."""
        return self.create_battles([(generation_a, generation_b)], blind=blind, left=left)[0]

    def create_battles(self, pairs: Sequence[tuple[int, int]], *, blind: bool = True,
                       left: Side | None = None) -> list[int]:
        """Several battles in one transaction (all or none), e.g. from an offline evaluation run."""
        checked = [validate.pair(p) for p in pairs]
        if left not in ("a", "b", None):
            raise Refused("battle.left", left, "must be 'a', 'b' or None (random)")
        if not isinstance(blind, bool):
            raise Refused("battle.blind", blind, "must be True or False")
        sides = [left or self._rng.choice(("a", "b")) for _ in checked]

        def write(session: Session) -> list[int]:
            wanted = sorted({gid for pair in checked for gid in pair})
            prompt_of = dict(session.execute(select(m.Generation.id, m.Generation.prompt_id)
                                             .where(m.Generation.id.in_(wanted))).tuples().all())
            for a, b in checked:
                for name, gid in (("generation_a", a), ("generation_b", b)):
                    if gid not in prompt_of:
                        raise Refused(f"battle.{name}", gid, "no such generation")
                if prompt_of[a] != prompt_of[b]:
                    raise Refused("battle.generation_b", b, f"continues another prompt than generation {a}; "
                                  "a battle compares two continuations of one prompt")
            rows = [m.Battle(generation_a_id=a, generation_b_id=b, blind=blind, left_side=side, status="open")
                    for (a, b), side in zip(checked, sides, strict=True)]
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]
        return self._write(f"create {len(checked)} battle(s)", write)

    def ensure_annotator(self, annotator_id: str) -> str:
        """Register a browser's annotator id (idempotent); returns the cleaned id."""
        clean = validate.annotator(annotator_id)
        self._write("register the annotator", lambda session: _insert_ignore(session, m.Annotator, id=clean))
        return clean

    def cast_vote(self, battle_id: int, annotator: str, choice: str, rationale: str | None = None,
                  ms_to_vote: int | None = None) -> Vote:
        """Store the one vote on a battle and return it; `Refused` or `StoreUnavailable` otherwise."""
        bid, who = validate.row_id(battle_id, "vote.battle_id"), validate.annotator(annotator)
        picked, why, ms = validate.choice(choice), validate.rationale(rationale), validate.ms_to_vote(ms_to_vote)
        token = uuid.uuid4().hex

        def write(session: Session) -> Vote:
            target = queries.vote_target(session, bid)  # PostgreSQL: double voters queue on this row lock
            if target is None:
                raise Refused("vote.battle_id", bid, "no such battle")
            if target.Vote is not None or target.status == "voted":
                return _own_vote(target.Vote or queries.vote_of(session, bid), target.left_side, token, who)
            for side, gid, stop in (("a", target.gen_a, target.stop_a), ("b", target.gen_b, target.stop_b)):
                if stop not in FINISHED:
                    raise Refused("vote.battle_id", bid, f"generation {side} (id {gid}) is not finished "
                                  f"(stop_reason={stop!r}); only finished generations can be judged")
            _insert_ignore(session, m.Annotator, id=who)
            row = m.Vote(battle_id=bid, annotator_id=who, choice=picked, rationale=why, ms_to_vote=ms,
                         client_token=token)
            session.add(row)
            session.execute(update(m.Battle).where(m.Battle.id == bid).values(status="voted"))
            session.flush()
            return queries.vote(row, target.left_side)
        try:
            return self._write(f"store the vote on battle {bid}", write)
        except IntegrityError as error:  # a concurrent vote landed first (the unique constraint)
            return self._after_conflict(bid, token, who, error)

    def _after_conflict(self, bid: int, token: str, who: str, error: IntegrityError) -> Vote:
        def read(session: Session) -> Vote:
            existing = queries.vote_of(session, bid)
            if existing is None:
                raise error
            return _own_vote(existing, session.get(m.Battle, bid).left_side, token, who)
        return self._read(f"check the vote on battle {bid}", read)

    def self_check(self) -> str:
        """Write a row, read it back in a new transaction, delete it; say where votes go.

        Raises `StoreFault` (read-only, disk full...) or `StoreUnavailable` when the database
        cannot take a vote, so the app can say so at start-up instead of on the first vote.
        """
        probe = f"self-check-{uuid.uuid4().hex}"
        self._write("write a test row", lambda session: _insert_ignore(session, m.Annotator, id=probe))
        back = self._read("read the test row back",
                          lambda session: session.scalar(select(m.Annotator.id).where(m.Annotator.id == probe)))
        self._write("delete the test row", lambda session: session.execute(delete(m.Annotator)
                                                                              .where(m.Annotator.id == probe)))
        if back != probe:
            raise StoreFault(f"the database {self.url} accepted a test row but did not return it when read back "
                             f"(got {back!r}); votes would not be stored reliably", "database error")
        return f"votes are stored in {self.url} (checked: a test row was written, read back and deleted)"

    # ---- reads --------------------------------------------------------------------------------

    def generation(self, generation_id: int, *, trace: bool = True) -> Generation:
        gid = validate.row_id(generation_id, "generation_id")

        def read(session: Session) -> Generation:
            row = session.get(m.Generation, gid)
            if row is None:
                raise Refused("generation_id", gid, "no such generation")
            return queries.generation(row, trace)
        return self._read("read the generation", read)

    def battle(self, battle_id: int, *, trace: bool = False) -> BattleView:
        """A battle with its generations (left/right resolved) and its vote, if any."""
        bid = validate.row_id(battle_id, "battle_id")
        found = self._read("read the battle", lambda session: queries.battles_by_id(session, [bid], trace))
        if not found:
            raise Refused("battle_id", bid, "no such battle")
        return found[0]

    def battles(self, where: VoteFilter | None = None, *, trace: bool = True, chunk: int = 200) -> Iterator[BattleView]:
        """Every voted battle matching `where`, in id order, fetched `chunk` at a time (for exports)."""
        ids = self._read("list voted battles", lambda session: queries.voted_battle_ids(session, where or VoteFilter()))
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            yield from self._read("read battles",
                                  lambda session, part=part: queries.battles_by_id(session, part, trace))

    def vote_rows(self, where: VoteFilter | None = None, *, public: bool = False) -> list[VoteRow]:
        """The votes the ranking reads (config A, config B, outcome, side, annotator, ...), oldest first.

        `public=True` (the public leaderboard): annotator ids become "annotator 1", "annotator 2"...
        in order of first vote, so agreement still computes, and filtering by annotator is refused.
        """
        where = where or VoteFilter()
        if public and where.annotator is not None:
            raise Refused("where.annotator", where.annotator, "the public leaderboard cannot filter by annotator id")
        rows = self._read("read the votes", lambda session: queries.vote_rows(session, where))
        return pseudonymous(rows) if public else rows

    def battles_needing_votes(self, limit: int = 20, *, blind: bool | None = None,
                              scan: int = 2000) -> list[BattleNeed]:
        """Open battles ready to vote on, fewest votes on their configuration pair first."""
        return self._read("find open battles", lambda session: queries.needs(session, blind, limit, scan))

    def pair_votes(self) -> dict[tuple[str, str], int]:
        """Votes per unordered configuration pair (labels sorted within the key)."""
        return dict(self._read("count votes per pair", queries.pair_votes))

    def annotator_progress(self, annotator_id: str) -> AnnotatorProgress:
        who = validate.annotator(annotator_id)

        def read(session: Session) -> AnnotatorProgress:
            stmt = select(func.count(m.Vote.id), func.min(m.Vote.created_at), func.max(m.Vote.created_at))
            n, first, last = session.execute(stmt.where(m.Vote.annotator_id == who)).one()
            return AnnotatorProgress(who, n, first, last, queries.open_count(session))
        return self._read("read the annotator's progress", read)

    def annotator_count(self) -> int:
        return self._read("count annotators", lambda session: session.scalar(select(func.count(m.Annotator.id))))

    def prompt_sets(self) -> list[str]:
        """Prompt sets that have generations ('' is the hand-typed set)."""
        stmt = select(m.Prompt.prompt_set).distinct().order_by(m.Prompt.prompt_set)
        return self._read("list prompt sets", lambda session: list(session.scalars(stmt)))

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        def read(session: Session) -> dict[str, int]:
            return {name: session.scalar(select(func.count()).select_from(model)) for name, model in TABLES.items()}
        return self._read("count rows", read)


def _own_vote(existing: m.Vote, left_side: str, token: str, who: str) -> Vote:
    """The battle already has a vote: this call's (a retry after a lost commit) is success; the same
    annotator's from an earlier call (its confirmation lost) is `AlreadyVoted`; anyone's else a refusal."""
    if existing.client_token == token:
        return queries.vote(existing, left_side)
    if existing.annotator_id == who:
        stored = queries.vote(existing, left_side)
        raise AlreadyVoted(stored, f"already has a vote from you, {who!r}: vote {stored.id} ({stored.choice}), "
                                   f"stored {stored.created_at:%Y-%m-%d %H:%M:%S} UTC. That vote counts; this "
                                   "one was not stored (one vote per battle)")
    raise Refused("vote.battle_id", existing.battle_id, f"already has a vote (vote {existing.id}); one vote per battle")


def _insert_ignore(session: Session, model: type[m.Base], **values: Any) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (two browsers registering one id at once is not an error)."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise StoreUnavailable(f"database dialect {dialect!r} is not supported (use SQLite or PostgreSQL)")
    session.execute(insert(model).values(created_at=m.utcnow(), **values).on_conflict_do_nothing())


def _prompt_id(session: Session, text: str, prompt_set: str) -> int:
    digest = validate.prompt_digest(text, prompt_set)
    _insert_ignore(session, m.Prompt, digest=digest, text=text, prompt_set=prompt_set)
    return session.scalar(select(m.Prompt.id).where(m.Prompt.digest == digest))
