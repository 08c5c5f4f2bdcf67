"""One blind battle of the Arena, from planning to the vote, without any UI.

`Arena.serve` first offers a stored blind battle of the chosen prompt set that waits for a vote
(imported from an offline evaluation by `python -m storage.import_eval`, or left unvoted),
pairs with few votes first, that no other session is looking at (each shown battle is claimed
for `CLAIM_S` seconds in this process; the store's one-vote rule guards the rest). Otherwise
`Arena.plan` picks a prompt (typed, or one of the set the annotator has not judged yet), a pair
of configurations from the pool (pairs with few votes first) and which of them is shown left,
and builds both requests with one seed. The Arena tab streams them; `Arena.finish` stores both
generations and the blind battle (`left` as shown) and starts the vote clock; `Arena.vote` casts
the vote with the milliseconds from "both finished" to the click. An `ArenaBattle` is an
immutable record kept in the browser session's state. The store and the engine are injected.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backends.decoders import GenerationRequest
from backends.presets import Preset
from playground.pool import (
    Contender,
    Pool,
    PoolError,
    pick_left,
    pick_pair,
    pick_prompt,
    pick_seed,
    usable,
    weighted_order,
)
from playground.prompts import load_prompt_set
from playground.runner import PanelView
from playground.votes import Reply, cast, judged_prompts, not_stored, save_views, votable
from storage import BattleView, StoreError
from storage.validate import MAX_MS  # the longest ms_to_vote the store takes

if TYPE_CHECKING:  # the store's class imports SQLAlchemy; the page is built before it is needed
    from storage import Store

CLAIM_S = 600.0  # a battle shown to one annotator is not offered to another for this long
JUDGED_KEPT = 10_000  # (annotator, prompt set) entries kept before the cache starts over
SERVE_SCAN = 20  # open battles considered for serving beyond those claimed, fewest votes on their pair first
SERVE_REFRESH_S = 2.0  # the serving order of open battles is read again after this long
READY = "Both finished. Which continuation is better? Vote with the buttons or the keys 1 to 4."


@dataclass(frozen=True)
class ArenaBattle:
    """A battle as one browser session sees it. Sides: `a`/`b` are the pool's pair; `shown` is left, right."""

    prompt: str
    prompt_set: str
    requests: tuple[GenerationRequest, ...]  # (a, b) to generate; () for a stored battle being served
    left: str  # "a" or "b": the generation shown on the left
    battle_id: int | None = None
    labels: tuple[str, str] = ("", "")  # (left, right) configuration labels, shown after the vote
    texts: tuple[str, str] = ("", "")  # (left, right) continuations
    ready_at: float | None = None  # time.monotonic() when both finished and voting opened
    voted: bool = False

    def shown(self) -> list[GenerationRequest]:
        """The requests in screen order: [left, right]."""
        a, b = self.requests
        return [a, b] if self.left == "a" else [b, a]

    @property
    def open(self) -> bool:
        return self.battle_id is not None and not self.voted


@dataclass
class Arena:
    """Plans, stores and votes on blind battles; `rng` decides prompts, pairs, sides and seeds."""

    engine: Any  # .preset(name) -> Preset (and .stream/.warm for the tab)
    store: Store
    pool: Pool
    preset_name: str
    rng: random.Random = field(default_factory=random.Random)
    claims: dict[int, float] = field(default_factory=dict)  # battle id -> time.monotonic() it was shown
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (annotator, prompt set) -> prompts judged: read once, then kept up to date by `vote` (reading
    # them for every vote's progress line cost more than the vote itself)
    judged: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    sets: dict[int, str] = field(default_factory=dict)  # battle id -> its prompt set (it never changes)
    _order: list[int] = field(default_factory=list)  # open battles in serving order, read at _order_at
    _order_at: float = float("-inf")
    _claims_swept: int = 64  # claims held when expired ones are next forgotten

    @property
    def preset(self) -> Preset:
        return self.engine.preset(self.preset_name)

    def contenders(self) -> list[Contender]:
        return usable(self.pool, self.preset)

    def claim(self, battle_id: int) -> bool:
        """Reserve a battle for the session showing it; False if another one did in the last CLAIM_S."""
        now = time.monotonic()
        with self.lock:
            if len(self.claims) > self._claims_swept:  # forget expired claims now and then, not on every call
                self.claims = {b: t for b, t in self.claims.items() if now - t <= CLAIM_S}
                self._claims_swept = 2 * len(self.claims) + 64
            held = self.claims.get(battle_id)
            if held is not None and now - held <= CLAIM_S:
                return False
            self.claims[battle_id] = now
            return True

    def serve(self, prompt_set: str | None) -> ArenaBattle | None:
        """A stored, open, blind battle of `prompt_set` that nobody is looking at, or None.

        The order of open battles (fewest votes on their pair first, weighted at random) is read
        once per SERVE_REFRESH_S and kept: serving a battle then costs one read of that battle,
        not a scan of every open battle and vote. The battle's own row is read fresh, so one that
        was voted on elsewhere meanwhile is passed over."""
        if not prompt_set:
            return None
        with self.lock:
            cached = list(self._order) if time.monotonic() - self._order_at < SERVE_REFRESH_S else None
        if cached is not None:
            found = self._first_open(cached, prompt_set)
            if found is not None:
                return found
        with self.lock:  # look past the battles other sessions hold, or busy hours would fall back to generating
            limit = SERVE_SCAN + len(self.claims)
        while True:
            needs = self.store.battles_needing_votes(limit, blind=True)
            order = [needs[i].battle_id for i in weighted_order([n.weight for n in needs], self.rng)]
            with self.lock:
                self._order, self._order_at = order, time.monotonic()
            found = self._first_open(order, prompt_set)
            if found is not None or len(needs) < limit:
                return found  # None: every open battle was looked at
            limit *= 2  # other sessions claimed those meanwhile: look further

    def _first_open(self, order: Sequence[int], prompt_set: str) -> ArenaBattle | None:
        for bid in order:
            if self.sets.get(bid, prompt_set) != prompt_set or not self.claim(bid):
                continue
            try:
                view = self.store.battle(bid)
            except StoreError:
                self.release(bid)
                raise
            with self.lock:
                if len(self.sets) >= JUDGED_KEPT * 10:
                    self.sets.clear()
                self.sets[bid] = view.prompt_set
            if view.prompt_set == prompt_set and view.status == "open":
                return _shown(view)
            self.release(bid)
        return None

    def release(self, battle_id: int) -> None:
        with self.lock:
            self.claims.pop(battle_id, None)

    def plan(self, prompt_set: str | None, typed: str | None, annotator: str | None) -> ArenaBattle:
        """The next battle (PoolError when it cannot be planned; StoreError when votes cannot be read)."""
        preset, contenders = self.preset, self.contenders()
        labels = [c.label(preset.name) for c in contenders]
        a, b = pick_pair(labels, self.store.pair_votes(), self.rng)
        if typed and typed.strip():
            item, prompt_set = {"prompt": typed.strip()}, ""
        else:
            if not prompt_set:
                raise PoolError("pick a prompt set, or type a prompt")
            judged = self.judged_by(annotator.strip(), prompt_set) if annotator and annotator.strip() else set()
            item = pick_prompt(load_prompt_set(prompt_set), judged, self.rng)
        seed = pick_seed(self.rng)
        max_new = self.pool.max_new_tokens or preset.max_new_tokens
        requests = tuple(GenerationRequest(prompt=item["prompt"], decoder=c.decoder, config=dict(c.config),
                                           rewards=dict(c.rewards or {}), preset=preset.name, seed=seed,
                                           max_new_tokens=max_new, keywords=tuple(item.get("keywords", ())))
                         for c in (contenders[a], contenders[b]))
        return ArenaBattle(item["prompt"], prompt_set or "", requests, pick_left(self.rng))

    def finish(self, battle: ArenaBattle, views: Sequence[PanelView]) -> tuple[ArenaBattle, str]:
        """Store both generations and the blind battle; (the battle, open for votes, or unchanged; a message)."""
        texts = tuple(v.text for v in views)
        if len(views) != 2 or not all(votable(v) for v in views):
            failed = [("A", "B")[i] for i, v in enumerate(views) if not votable(v)]
            return dataclasses.replace(battle, texts=texts), (
                f"Side {' and '.join(failed)} did not finish, so this battle cannot be judged. Press Next battle.")
        saved = save_views(self.store, views, battle.prompt_set, self.preset)
        if saved.error:
            return dataclasses.replace(battle, texts=texts), f"{saved.error} Voting is off for this battle."
        left_id, right_id = saved.ids
        gen_a, gen_b = (left_id, right_id) if battle.left == "a" else (right_id, left_id)
        try:
            bid = self.store.create_battle(gen_a, gen_b, blind=True, left=battle.left)
            self.claim(bid)
            stored = self.store.battle(bid)
        except StoreError as e:
            return dataclasses.replace(battle, texts=texts), f"{not_stored('The battle was', e)} Voting is off."
        return dataclasses.replace(battle, battle_id=bid, labels=(stored.left.label, stored.right.label),
                                   texts=texts, ready_at=time.monotonic()), READY

    def vote(self, battle: ArenaBattle | None, choice: str, annotator: str | None,
             rationale: str | None) -> tuple[ArenaBattle | None, Reply]:
        """Cast the vote; the battle comes back marked voted when it can take no other."""
        if battle is None or battle.battle_id is None:
            return battle, Reply(False, "There is no battle to vote on yet: press Next battle.")
        ms = None if battle.ready_at is None else min(MAX_MS, max(0, round(1e3 * (time.monotonic() - battle.ready_at))))
        reply = cast(self.store, battle.battle_id, annotator, choice, rationale, ms)
        if reply.vote is not None and annotator:
            with self.lock:
                known = self.judged.get((annotator.strip(), battle.prompt_set))
                if known is not None:
                    known.add(battle.prompt)
        return (dataclasses.replace(battle, voted=True) if reply.locked else battle), reply

    def judged_by(self, annotator: str, prompt_set: str) -> set[str]:
        """Prompts of `prompt_set` that `annotator` has voted on (read from the store once, then kept)."""
        key = (annotator, prompt_set)
        with self.lock:
            known = self.judged.get(key)
        if known is None:
            known = judged_prompts(self.store, annotator, prompt_set)
            with self.lock:
                if len(self.judged) >= JUDGED_KEPT:
                    self.judged.clear()
                known = self.judged.setdefault(key, known)
        with self.lock:
            return set(known)


def _shown(view: BattleView) -> ArenaBattle:
    """A stored battle, ready to vote on from now."""
    return ArenaBattle(view.prompt, view.prompt_set, (), view.left_side, battle_id=view.id,
                       labels=(view.left.label, view.right.label), texts=(view.left.text, view.right.text),
                       ready_at=time.monotonic())
