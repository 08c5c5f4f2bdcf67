"""The Arena tab: blind battles between two decoder configurations, judged by annotators.

Lays out, compactly enough that both sides and the vote buttons fit a 1280x800 screen, the
prompt choice (a prompt set, or a typed prompt), the guidelines (open on a first visit, folded
after the first vote; the browser's localStorage remembers it), the two blind sides, the vote
buttons with a one-line rationale and the annotator's progress, and wires them.

The Arena never waits behind generation: Next battle (`queue=False`, so no queue at all) shows a
stored battle waiting for votes (imported by `python -m storage.import_eval` or generated ahead
in the background), or plans a new one (`playground.battles.Arena`) and bumps a hidden ticket;
only that ticket's change streams both sides through `session_stream` (the Compare tab's runner)
in the shared "accelerator" queue, then stores them and opens the vote. Votes also skip the
queue; one vote handler is bound per choice, and each asks `Identity.voter` who votes (a signed
id, or the signed-in Hugging Face user) and applies the rate limits before anything is stored.
Keys 1/2/3/4 (or A/B/T/X) vote and N starts the next battle when the focus is not in a text box.
Without a store, or with a pool that cannot be read, the tab shows why instead. The app-API
names are `next_battle` and `vote_left`, `vote_right`, `vote_tie`, `vote_both_bad`.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.arena_api import ArenaApi
from playground.arena_render import (
    GUIDELINES,
    WAITING,
    prompt_html,
    readable,
    side_html,
    status_html,
    verdict_text,
)
from playground.battles import READY, Arena, ArenaBattle
from playground.escape import html_text
from playground.gpu import on_accelerator
from playground.identity import Identity, TooFast
from playground.pool import PoolError, load_pool
from playground.prompts import load_prompt_set, prompt_sets
from playground.runner import PanelView, session_stream
from playground.votes import progress_line
from storage import StoreError
from storage.access import Forbidden

log = logging.getLogger(__name__)
EVERY_TOKENS, EVERY_MS = 4, 250.0
VOTE_BUTTONS = (("left", "A is better  [1]"), ("right", "B is better  [2]"), ("tie", "Tie  [3]"),
                ("both_bad", "Both bad  [4]"))
GUIDE_KEY = "decoder-playground-guidelines"  # localStorage: "folded" once the guidelines were folded
# The stored fold state, read on page load; folding and unfolding (by the annotator, or by the
# first vote) store the new state, so a returning annotator sees them as they were left.
GUIDE_READ_JS = (f"() => {{ try {{ return localStorage.getItem('{GUIDE_KEY}') || ''; }} "
                 "catch (e) { return ''; } }")
GUIDE_FOLD_JS = f"""() => {{ try {{ localStorage.setItem('{GUIDE_KEY}', 'folded'); }} catch (e) {{}} }}"""
GUIDE_OPEN_JS = f"""() => {{ try {{ localStorage.setItem('{GUIDE_KEY}', 'open'); }} catch (e) {{}} }}"""
# One document-wide listener (installed once): a key clicks its button when that button is on
# screen and enabled, so keys and clicks share one handler and the buttons' locking.
KEYS_JS = """
if (!window.__arenaKeys) {
  window.__arenaKeys = true;
  const ids = {'1': 'left', 'a': 'left', '2': 'right', 'b': 'right', '3': 'tie', 't': 'tie',
               '4': 'both_bad', 'x': 'both_bad'};
  document.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
    const key = (event.key || '').toLowerCase();
    const id = key === 'n' ? 'arena-next' : (ids[key] ? 'arena-vote-' + ids[key] : null);
    const button = id && document.getElementById(id);
    if (!button || button.disabled || button.offsetParent === null) return;
    event.preventDefault();
    button.click();
  });
}
"""


@dataclass
class ArenaTab:
    guidelines: gr.Accordion
    prompt_set: gr.Dropdown
    typed: gr.Textbox
    next: gr.Button
    progress: gr.HTML
    prompt: gr.HTML
    sides: list[gr.HTML]  # left (A), right (B)
    status: gr.HTML
    votes: dict[str, gr.Button]  # choice -> button
    rationale: gr.Textbox
    battle: gr.State  # the session's ArenaBattle
    ticket: gr.State  # bumped when a planned battle needs generating (its change starts the generation)

    def outputs(self) -> list:
        return [self.prompt, *self.sides, self.status, *self.votes.values(), self.rationale, self.battle]


def buttons(tab: ArenaTab, enabled: bool) -> dict:
    return {b: gr.update(interactive=enabled) for b in tab.votes.values()}


def live_sides(tab: ArenaTab, views: list[PanelView], message: str = "") -> dict:
    """The two sides while they stream (text only: nothing that would name the configuration)."""
    out = {}
    for i, side in enumerate(tab.sides):
        v = views[i] if i < len(views) else None
        f = v.finished if v else None
        state = message or ("writing..." if f is None else f"finished ({f.stop_reason})")
        failed = f is not None and f.stop_reason in ("error", "cancelled")
        out[side] = side_html(i, v.text if v else "", state, error=(f.error or f.stop_reason) if failed else "")
    return out


def revealed(tab: ArenaTab, battle: ArenaBattle) -> dict:
    """Both sides named by their readable labels, the full stored label in the tooltip."""
    names = readable(battle.labels)
    return {side: side_html(i, battle.texts[i], label=names[i], full=battle.labels[i])
            for i, side in enumerate(tab.sides)}


def _layout(sets: list[str]) -> ArenaTab:
    with gr.Row(equal_height=True, elem_id="arena-bar"):
        prompt_set = gr.Dropdown(sets, value=sets[0] if sets else None, label="Prompt set", elem_id="arena-set",
                                 scale=1, min_width=150)
        typed = gr.Textbox(label="... or your own prompt", placeholder="leave empty to draw from the prompt set",
                           max_lines=3, scale=3, min_width=240, elem_id="arena-typed")
        nxt = gr.Button("Next battle  [N]", variant="primary", elem_id="arena-next", scale=0, min_width=160)
    with gr.Accordion("How to judge: two blind answers, one vote", open=True,
                      elem_id="arena-guidelines") as guidelines:
        gr.Markdown(GUIDELINES, elem_id="arena-guide-text")
    with gr.Row(elem_id="arena-head"):
        gr.HTML('<div class="arena-title">Blind battle</div>', elem_id="arena-title", js_on_load=None,
                padding=False, scale=0, min_width=100)
        progress = gr.HTML(elem_id="arena-progress", js_on_load=None, padding=False, scale=1)
    prompt = gr.HTML(f'<div class="arena-status">{WAITING}</div>', elem_id="arena-prompt", js_on_load=KEYS_JS,
                     padding=False)
    with gr.Row(equal_height=True, elem_id="arena-sides"):
        sides = [gr.HTML(side_html(i, ""), elem_id=f"arena-side-{'ab'[i]}", js_on_load=None, padding=False)
                 for i in range(2)]
    with gr.Row(elem_id="arena-votes"):
        votes = {c: gr.Button(label, interactive=False, elem_id=f"arena-vote-{c}", size="md", min_width=120)
                 for c, label in VOTE_BUTTONS}
    with gr.Row(equal_height=True, elem_id="arena-foot"):
        rationale = gr.Textbox(label="Why? (optional, one line)", max_lines=1, max_length=500, scale=2,
                               elem_id="arena-rationale")
        status = gr.HTML(elem_id="arena-status", js_on_load=None, padding=False, scale=3)
    return ArenaTab(guidelines, prompt_set, typed, nxt, progress, prompt, sides, status, votes, rationale,
                    gr.State(None), gr.State(0))


def _wire_guidelines(tab: ArenaTab, page: gr.Blocks | None) -> None:
    """Fold the guidelines on load if this browser folded them before; remember every fold and unfold."""
    tab.guidelines.collapse(None, None, None, js=GUIDE_FOLD_JS, queue=False)
    tab.guidelines.expand(None, None, None, js=GUIDE_OPEN_JS, queue=False)
    if page is not None:
        remembered = gr.Textbox(visible=False)  # a State would not receive the value the js returns
        page.load(lambda state: gr.update(open=state != "folded"), remembered, tab.guidelines,
                  js=GUIDE_READ_JS, queue=False, show_progress="hidden")


def build_arena_tab(services: Any, rng: random.Random | None = None) -> ArenaTab | None:
    """Lay out and wire the tab (call inside a `gr.Tab`); a notice instead when it cannot work."""
    if services.store is None or services.annotator is None:
        gr.Markdown(f"The Arena needs a database for its votes. {services.store_note}", elem_id="arena-off")
        return None
    try:
        pool = load_pool(services.settings.arena_pool)
    except PoolError as e:
        gr.Markdown(f"The Arena is off: {html_text(str(e))}", elem_id="arena-off")
        return None
    engine, settings = services.engine, services.settings
    preset = settings.preset if settings.preset in engine.presets else sorted(engine.presets)[0]
    arena = Arena(engine, services.store, pool, preset, rng or random.Random())
    if settings.arena_api:
        services.routes.extend(ArenaApi(arena, services.identity, settings.shown).routes())
    tab = _layout(prompt_sets(engine.preset(preset).prompt_sets))
    _wire_guidelines(tab, services.page)
    _wire_battle(tab, arena, services)
    _wire_votes(tab, arena, services)
    return tab


def _progress(arena: Arena, annotator: str | None, prompt_set: str | None) -> str:
    who = (annotator or "").strip()
    size = _set_size(prompt_set) if prompt_set else 0
    try:
        judged = arena.judged_by(who, prompt_set) if who and prompt_set else None
    except StoreError:
        judged = None  # progress_line reads again and says why it cannot
    line = progress_line(arena.store, annotator, prompt_set, size, judged)
    return f'<div class="arena-progress">{html_text(line)}</div>'


@functools.lru_cache(maxsize=64)
def _set_size(prompt_set: str) -> int:
    return len(load_prompt_set(prompt_set))


def _wire_battle(tab: ArenaTab, arena: Arena, services: Any) -> None:
    engine, runs, settings = services.engine, services.runs, services.settings

    def battle_stream(battle: ArenaBattle, session: str) -> Iterator[dict]:
        views: list[PanelView] = []
        for views, message in session_stream(engine, runs, session, battle.shown(), EVERY_TOKENS, EVERY_MS):
            yield live_sides(tab, views, message)
        battle, message = arena.finish(battle, views)
        yield {**live_sides(tab, views), **buttons(tab, battle.open), tab.battle: battle,
               tab.status: status_html(settings.shown(message), "info" if battle.open else "error")}

    stream_on_gpu = on_accelerator(battle_stream, settings.gpu_seconds)

    def next_battle(prompt_set: str | None, typed: str | None, annotator: str | None, ticket: int | None,
                    request: gr.Request) -> dict:
        runs.stop(_session(request))  # a battle of this page still being written
        try:
            served = None if typed and typed.strip() else arena.serve(prompt_set)
            battle = served or arena.plan(prompt_set, typed, annotator)
        except (PoolError, StoreError) as e:
            return {tab.status: status_html(settings.shown(f"Cannot start a battle: {e}"), "error")}
        fresh = {tab.prompt: prompt_html(battle.prompt, battle.prompt_set), tab.rationale: "", tab.battle: battle}
        if served is not None:
            log.info("arena: serving stored battle %s", served.battle_id)
            sides = {side: side_html(i, served.texts[i], "finished") for i, side in enumerate(tab.sides)}
            return {**fresh, **sides, **buttons(tab, True), tab.status: status_html(READY, "info")}
        log.info("arena battle: %s", " vs ".join(r.decoder for r in battle.requests))
        return {**fresh, **live_sides(tab, [], "waiting..."), **buttons(tab, False), tab.ticket: (ticket or 0) + 1,
                tab.status: status_html("Both sides are being written...", "info")}

    def generate(battle: ArenaBattle | None, request: gr.Request) -> Iterator[dict]:
        if battle is None or battle.battle_id is not None or not battle.requests:
            return  # a stored battle (or none): nothing to write
        yield from stream_on_gpu(battle, _session(request))

    tab.next.click(next_battle, [tab.prompt_set, tab.typed, services.annotator, tab.ticket],
                   [*tab.outputs(), tab.ticket], show_progress="minimal", api_name="next_battle",
                   concurrency_id="arena", concurrency_limit=None)  # a queue of its own: never behind generation
    tab.ticket.change(generate, tab.battle, tab.outputs(), concurrency_id="accelerator",
                      concurrency_limit=settings.concurrency, show_progress="minimal", trigger_mode="always_last",
                      api_visibility="private")
    show = functools.partial(_progress, arena)
    for trigger in (services.annotator.change, tab.prompt_set.change):
        trigger(show, [services.annotator, tab.prompt_set], tab.progress, show_progress="hidden", queue=False,
                api_visibility="private")


def vote_handler(tab: ArenaTab, arena: Arena, identity: Identity, choice: str, shown: Any = str) -> Any:
    """The handler of one vote button: who votes (checked here, on the server), then the vote and what it shows."""
    def vote(battle: ArenaBattle | None, who: str | None, why: str | None, prompt_set: str | None,
             request: gr.Request, profile: gr.OAuthProfile | None) -> dict:
        try:
            voter = identity.voter(who, profile, request)
        except Forbidden as e:
            return {tab.status: status_html(f"Your vote was NOT stored: {e}", "error")}
        except TooFast as e:
            return {tab.status: status_html(str(e), "error")}
        battle, reply = arena.vote(battle, choice, voter, why)
        out: dict = {tab.battle: battle, tab.progress: _progress(arena, voter, prompt_set)}
        if reply.ok:
            out[tab.status] = status_html(f"{reply.message} {verdict_text(choice, battle.labels)}", "ok")
        else:
            out[tab.status] = status_html(shown(reply.message), "error")
        if battle is not None and battle.voted:
            out |= revealed(tab, battle) | buttons(tab, False)
        if reply.ok:  # the first vote folds the guidelines (the fold is remembered in this browser)
            out[tab.guidelines] = gr.update(open=False)
        return out

    vote.choice = choice  # type: ignore[attr-defined]  # tests find the handler by it
    return vote


def _wire_votes(tab: ArenaTab, arena: Arena, services: Any) -> None:
    inputs = [tab.battle, services.annotator, tab.rationale, tab.prompt_set]
    outputs = [tab.battle, tab.progress, tab.status, *tab.sides, *tab.votes.values(), tab.guidelines]
    for choice, button in tab.votes.items():
        handler = vote_handler(tab, arena, services.identity, choice, services.settings.shown)
        button.click(handler, inputs, outputs, queue=False, show_progress="minimal", api_name=f"vote_{choice}",
                     concurrency_id="arena", concurrency_limit=None)


def _session(request: gr.Request | None) -> str:
    """The arena's run key: its own, so a battle and a Compare run in one browser do not stop each other."""
    return (getattr(request, "session_hash", None) or "") + ":arena"
