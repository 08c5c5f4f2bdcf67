"""The Compare tab's Vote control: a named (not blind) vote on two of the panels of the last run.

`vote_hooks` fills the seams `CompareHooks` left in the Compare tab: `on_finished` stores every
finished generation of a run (the returned `Saved` lands in `CompareTab.record`), and the
`below_panels` builder lays out the control under the panels: which two panels (default 1 vs 2),
four buttons bound to one handler, an optional rationale, and what became of the vote. The vote
itself is `playground.votes.named_vote` (a named battle, then the vote); who votes is checked on the
server (`Identity.voter`: a signed id or the signed-in user, and the rate limits) first. This
module only lays out and wires.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import gradio as gr

from backends.presets import Preset
from playground.arena_render import status_html
from playground.compare import MAX_PANELS, CompareHooks, CompareTab
from playground.identity import Identity, TooFast
from playground.runner import PanelView
from playground.votes import Saved, named_vote, save_views
from storage.access import Forbidden

if TYPE_CHECKING:  # the store's class imports SQLAlchemy; the page is built before it is needed
    from storage import Store

CHOICES = (("left", "First is better"), ("right", "Second is better"), ("tie", "Tie"), ("both_bad", "Both bad"))


def vote_hooks(store: Store, annotator: gr.Textbox, presets: Mapping[str, Preset], identity: Identity,
               settings: Any = None) -> CompareHooks:
    """Store each finished run; a Vote control under the panels."""
    def on_finished(views: list[PanelView]) -> Saved:
        return save_views(store, views, "", presets.get(views[0].request.preset) if views else None)

    return CompareHooks(on_finished=on_finished, below_panels=[vote_control(store, annotator, identity,
                                                                             getattr(settings, "shown", str))])


def vote_control(store: Store, annotator: gr.Textbox, identity: Identity,
                 shown: Callable[[str], str] = str) -> Callable[[CompareTab], None]:
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

        def handler(choice: str) -> Callable[..., tuple[str, dict]]:
            def vote(saved: Saved | None, a: Any, b: Any, who: str | None, why: str | None, known: dict,
                     request: gr.Request, profile: gr.OAuthProfile | None) -> tuple[str, dict]:
                try:
                    voter = identity.voter(who, profile, request)
                except (Forbidden, TooFast) as e:
                    text = str(e) if isinstance(e, TooFast) else f"Your vote was NOT stored: {e}"
                    return status_html(text, "error"), known
                reply, known = named_vote(store, saved, int(a or 1), int(b or 2), choice, voter, why, known or {})
                text = f"{reply.message} (panel {int(a or 1)} vs panel {int(b or 2)})" if reply.ok else reply.message
                return status_html(shown(text), "ok" if reply.ok else "error"), known

            vote.choice = choice  # type: ignore[attr-defined]  # tests find the handler by it
            return vote

        inputs = [tab.record, first, second, annotator, rationale, battles]
        for choice, button in buttons.items():
            button.click(handler(choice), inputs, [status, battles], queue=False, show_progress="minimal",
                         api_visibility="private")
        tab.record.change(lambda: "", None, status, queue=False, show_progress="hidden")

    return build
