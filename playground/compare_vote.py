"""The Compare tab's Vote control: a named (not blind) vote on two of the panels of the last run.

`vote_hooks` fills the seams `CompareHooks` left in the Compare tab: `on_finished` stores every
finished generation of a run (the returned `Saved` lands in `CompareTab.record`), and the
`below_panels` builder lays out the control under the panels: which two panels (default 1 vs 2),
four buttons bound to one handler, an optional rationale, and what became of the vote. The vote
itself is `playground.votes.named_vote` (a named battle, then the vote); this module only lays
out and wires.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr

from backends.presets import Preset
from playground.arena_render import status_html
from playground.compare import MAX_PANELS, CompareHooks, CompareTab
from playground.runner import PanelView
from playground.votes import Saved, named_vote, save_views
from storage import Store

CHOICES = (("left", "First is better"), ("right", "Second is better"), ("tie", "Tie"), ("both_bad", "Both bad"))


def vote_hooks(store: Store, annotator: gr.Textbox, presets: Mapping[str, Preset]) -> CompareHooks:
    """Store each finished run; a Vote control under the panels."""
    def on_finished(views: list[PanelView]) -> Saved:
        return save_views(store, views, "", presets.get(views[0].request.preset) if views else None)

    return CompareHooks(on_finished=on_finished, below_panels=[vote_control(store, annotator)])


def vote_control(store: Store, annotator: gr.Textbox) -> Callable[[CompareTab], None]:
    def build(tab: CompareTab) -> None:
        panels = list(range(1, MAX_PANELS + 1))
        with gr.Column(elem_id="compare-vote", elem_classes="compare-vote"):
            gr.Markdown("**Vote** on two panels of the last run (named, not blind; stored with both generations).")
            with gr.Row(equal_height=True):
                first = gr.Dropdown(panels, value=1, label="first panel", elem_id="vote-first", min_width=110)
                second = gr.Dropdown(panels, value=2, label="second panel", elem_id="vote-second", min_width=110)
                buttons = {c: gr.Button(label, size="md", elem_id=f"compare-vote-{c}", min_width=110)
                           for c, label in CHOICES}
            rationale = gr.Textbox(label="Why? (optional, one line)", max_lines=1, max_length=500,
                                   elem_id="compare-vote-rationale")
            status = gr.HTML(elem_id="compare-vote-status", js_on_load=None)
        battles = gr.State({})

        def vote(choice: str, saved: Saved | None, a: Any, b: Any, who: str | None, why: str | None,
                 known: dict) -> tuple[str, dict]:
            reply, known = named_vote(store, saved, int(a or 1), int(b or 2), choice, who, why, known or {})
            shown = f"{reply.message} (panel {int(a or 1)} vs panel {int(b or 2)})" if reply.ok else reply.message
            return status_html(shown, "ok" if reply.ok else "error"), known

        inputs = [tab.record, first, second, annotator, rationale, battles]
        for choice, button in buttons.items():
            button.click(functools.partial(vote, choice), inputs, [status, battles], concurrency_limit=None,
                         show_progress="minimal")
        tab.record.change(lambda: "", None, status, queue=False, show_progress="hidden")

    return build
