"""Between the UI and the store: finished panels saved as generations, battles, and votes with replies.

`save_views` stores the finished generations of a run (request, trace, model ids) and reports
which were stored; `cast` stores one vote and turns the store's two failure modes into a `Reply`
the UI shows as it is: `Refused` (a second vote, an unknown battle, a missing annotator id),
`StoreFault` (the database refused the write: read-only, disk full, text it cannot hold; the reply
says the vote was NOT stored and why) and `StoreUnavailable` (the database stayed locked or
unreachable: never shown as success). Also the
annotator's progress through a prompt set. No Gradio here; every message is plain text that the
renderers escape.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backends.events import Note, to_dict
from backends.presets import Preset
from playground.runner import PanelView
from storage import AlreadyVoted, Refused, StoreError, StoreFault, StoreUnavailable, Vote, VoteFilter
from storage.records import FINISHED  # the stop reasons a vote may judge

if TYPE_CHECKING:  # the store's class imports SQLAlchemy; the page is built before it is needed
    from storage import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Saved:
    """Generation ids of a run, per panel (None: not finished, or not stored), and any store error."""

    ids: tuple[int | None, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class Reply:
    """What a vote came to. `locked`: the battle takes no further vote (stored, or refused for good).
    `refused`: the store turned the vote down (bad input, or a battle it cannot take), not a fault."""

    ok: bool
    message: str
    vote: Vote | None = None
    locked: bool = False
    refused: bool = False


def votable(view: PanelView) -> bool:
    return view.finished is not None and view.finished.stop_reason in FINISHED


def trace_of(view: PanelView) -> list[dict[str, Any]]:
    """The view's events as JSON dicts: notes, each step's rollouts before its token and its feature
    trace after it (as the engine streams them), the rest, Finished."""
    events: list[Any] = [Note(n) for n in view.notes]
    by_step: dict[int | None, list] = {}
    for r in view.rollouts:
        by_step.setdefault(r.step, []).append(r)
    for t in view.tokens:
        events += [*by_step.pop(t.index, []), t]
        if t.index in view.features:
            events.append(view.features[t.index])
    events += [r for rs in by_step.values() for r in rs]
    if view.finished is not None:
        events.append(view.finished)
    return [to_dict(e) for e in events]


def model_ids(preset: Preset | None) -> dict[str, str]:
    """Which model played which role, so a stored generation can be reproduced."""
    if preset is None:
        return {}
    ids = {"policy": preset.policy, "base": preset.base_id}
    if preset.baseline:
        ids["baseline"] = preset.baseline
    return ids | {f"reward:{name}": ref.model for name, ref in preset.reward_models.items()}


def generation_record(view: PanelView, prompt_set: str = "", preset: Preset | None = None) -> dict[str, Any]:
    """What `Store.save_generation` takes for one finished panel."""
    request = dataclasses.asdict(view.request)
    request["keywords"] = list(request["keywords"])
    return {"request": request, "trace": trace_of(view), "prompt_set": prompt_set, "model_ids": model_ids(preset)}


def save_views(store: Store, views: Sequence[PanelView], prompt_set: str = "", preset: Preset | None = None) -> Saved:
    """Store every votable view; the others (errors, cancelled runs) get no id. Never raises a StoreError."""
    ids: list[int | None] = []
    for view in views:
        if not votable(view):
            ids.append(None)
            continue
        try:
            ids.append(store.save_generation(generation_record(view, prompt_set, preset)))
        except StoreError as e:
            log.warning("could not store a generation: %s", e)
            return Saved((*ids, *[None] * (len(views) - len(ids))), not_stored("the generations were", e))
    return Saved(tuple(ids))


def cast(store: Store, battle_id: int | None, annotator: str | None, choice: str, rationale: str | None = None,
         ms_to_vote: int | None = None) -> Reply:
    """Store one vote; every outcome is a `Reply` (success only once the vote is committed)."""
    if battle_id is None:
        return Reply(False, "There is no battle to vote on yet.")
    try:
        vote = store.cast_vote(battle_id, annotator or "", choice, rationale or None, ms_to_vote)
    except StoreUnavailable as e:
        log.warning("vote on battle %s not stored: %s", battle_id, e)
        return Reply(False, not_stored("Your vote was", e))
    except AlreadyVoted as e:
        return Reply(False, f"Your earlier vote on this battle is stored and counts: {e.why}", e.vote, locked=True,
                     refused=True)
    except Refused as e:
        return Reply(False, f"Vote refused: {e}", locked=e.field == "vote.battle_id", refused=True)
    log.info("vote %s on battle %s: %s", vote.id, battle_id, choice)
    return Reply(True, "Thank you, your vote is stored.", vote, locked=True)


def not_stored(what: str, error: StoreError) -> str:
    """"<what> NOT stored" and why: a fault an operator must fix, or a database that stayed unavailable."""
    if isinstance(error, StoreFault):
        return f"{what} NOT stored ({error.reason}): {error}"
    if isinstance(error, StoreUnavailable):
        return f"{what} NOT stored: the database is unavailable ({error}). Please try again."
    return f"{what} NOT stored: {error}"


def judged_prompts(store: Store, annotator: str, prompt_set: str) -> set[str]:
    """Prompts of a set this annotator has voted on."""
    where = VoteFilter(prompt_set=prompt_set, annotator=annotator)
    return {b.prompt for b in store.battles(where, trace=False)}


def progress_line(store: Store, annotator: str | None, prompt_set: str | None, set_size: int,
                  judged: set[str] | None = None) -> str:
    """One plain-text line: the annotator's votes and how many prompts of the set they have judged
    (`judged`: those prompts when the caller keeps them, else read from the store)."""
    if not annotator or not annotator.strip():
        return "No annotator id yet: reload the page to get one."
    try:
        progress = store.annotator_progress(annotator)
        line = f"You have cast {progress.votes} vote{'s' * (progress.votes != 1)}"
        if prompt_set:
            done = len(judged if judged is not None else judged_prompts(store, annotator.strip(), prompt_set))
            line += f"; prompt set {prompt_set}: {min(done, set_size)} of {set_size} prompts judged"
    except StoreError as e:
        return f"Progress unavailable: {e}"
    return line + "."


FLIP = {"left": "right", "right": "left"}


def named_vote(store: Store, saved: Saved | None, first: int, second: int, choice: str, annotator: str | None,
               rationale: str | None, battles: dict[str, list[int]]) -> tuple[Reply, dict[str, list[int]]]:
    """A named vote on panels `first` (shown left) and `second` (1-based) of a stored run.

    `battles` maps a pair of generation ids to [battle id, generation shown left]: voting twice on
    the same two generations goes to the same battle, which the store refuses. Returns the reply
    and the updated map.
    """
    if saved is None or not saved.ids:
        return Reply(False, "Run a comparison first: its finished panels are stored, then you can vote."), battles
    if saved.error:
        return Reply(False, f"Cannot vote: {saved.error}"), battles
    if first == second or not (1 <= first <= len(saved.ids) and 1 <= second <= len(saved.ids)):
        return Reply(False, f"Pick two different panels among 1 to {len(saved.ids)}."), battles
    a, b = saved.ids[first - 1], saved.ids[second - 1]
    if a is None or b is None:
        return Reply(False, f"Panel {first if a is None else second} did not finish, so it cannot be judged."), battles
    key = "-".join(map(str, sorted((a, b))))
    if key not in battles:
        try:
            battles = {**battles, key: [store.create_battle(a, b, blind=False, left="a"), a]}
        except StoreUnavailable as e:
            return Reply(False, not_stored("Your vote was", e)), battles
        except Refused as e:
            return Reply(False, f"Vote refused: {e}"), battles
    battle_id, shown_left = battles[key]
    stored_choice = choice if shown_left == a else FLIP.get(choice, choice)
    return cast(store, battle_id, annotator, stored_choice, rationale), battles
