"""The Leaderboard tab: decoder configurations ranked from the stored votes, with filters and exports.

Reads the votes that match the filters (blind only, prompt set, date range) with
`Store.vote_rows`, ranks them with `backends.ranking.leaderboard` (Bradley-Terry, bootstrap
intervals, Chatbot Arena ranks; configurations in fewer than `Settings.min_votes` votes are
provisional and ranked last) and shows the table, the win-fraction and vote-count heatmaps,
the side bias and each annotator's agreement with the crowd (`playground.leaderboard_render`).
Export buttons write the same votes as TRL DPO rows, KTO rows or whole battles
(`storage.export`) to a file to download. Computed on page load and on Refresh.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gradio as gr

from backends.ranking import leaderboard
from playground.arena_render import status_html
from playground.leaderboard_render import agreement_html, heatmap, ratings_html, side_bias_html
from storage import Store, StoreError, VoteFilter
from storage.export import export

log = logging.getLogger(__name__)
ALL, TYPED = "(all prompt sets)", "(typed prompts)"
EXPORTS = (("dpo", "DPO pairs (chosen / rejected)"), ("kto", "KTO rows (desirable / undesirable)"),
           ("battles", "Battles (generations, traces, votes)"))


@dataclass
class LeaderboardTab:
    blind_only: gr.Checkbox
    prompt_set: gr.Dropdown
    since: gr.Textbox
    until: gr.Textbox
    refresh: gr.Button
    status: gr.HTML
    table: gr.HTML
    wins: gr.Plot
    battles: gr.Plot
    diagnostics: gr.HTML
    exports: dict[str, gr.Button]
    file: gr.File

    def filters(self) -> list:
        return [self.blind_only, self.prompt_set, self.since, self.until]


def _day(text: str | None, field: str) -> datetime | None:
    if not text or not str(text).strip():
        return None
    try:
        day = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"{field}={text!r}: write a date as YYYY-MM-DD") from None
    return day if day.tzinfo else day.replace(tzinfo=UTC)


def vote_filter(blind_only: bool, prompt_set: str | None, since: str | None, until: str | None) -> VoteFilter:
    """The widgets' values as a `VoteFilter`; `until` is inclusive of its whole day (ValueError on a bad date)."""
    end = _day(until, "until")
    if end is not None and (end.hour, end.minute, end.second, end.microsecond) == (0, 0, 0, 0):
        end += timedelta(days=1)
    chosen = None if prompt_set in (None, ALL) else ("" if prompt_set == TYPED else prompt_set)
    return VoteFilter(blind_only=bool(blind_only), prompt_set=chosen, since=_day(since, "since"), until=end)


def set_choices(store: Store) -> list[str]:
    return [ALL, *(TYPED if s == "" else s for s in store.prompt_sets())]


def board_outputs(tab: LeaderboardTab, store: Store, where: VoteFilter, min_votes: int = 0) -> dict:
    """Every output of a refresh for the votes matching `where` (fewer than `min_votes`: provisional)."""
    rows = store.vote_rows(where)
    board = leaderboard(rows, resamples=200, seed=0, min_votes=min_votes)
    return {tab.table: ratings_html(board, len(rows), min_votes), tab.wins: heatmap(board, "win_fraction"),
            tab.battles: heatmap(board, "battles"), tab.diagnostics: side_bias_html(board) + agreement_html(board),
            tab.status: ""}


def export_file(store: Store, fmt: str, where: VoteFilter, folder: Path | None = None) -> tuple[Path, int]:
    """Write the matching votes as `fmt` JSONL to a fresh file; (its path, rows written)."""
    folder = folder or Path(tempfile.mkdtemp(prefix="playground-export-"))
    path = folder / f"votes-{fmt}-{datetime.now(UTC):%Y%m%dT%H%M%S}.jsonl"
    return path, export(store, fmt, path, where)


def _layout() -> LeaderboardTab:
    gr.Markdown("### Leaderboard: decoder configurations ranked by the votes", elem_id="lb-title")
    with gr.Row(equal_height=True):
        blind_only = gr.Checkbox(value=True, label="blind votes only (the Arena)", elem_id="lb-blind")
        prompt_set = gr.Dropdown([ALL], value=ALL, label="prompt set", elem_id="lb-set", allow_custom_value=True)
        since = gr.Textbox(label="from (YYYY-MM-DD)", max_lines=1, elem_id="lb-since")
        until = gr.Textbox(label="to (YYYY-MM-DD, inclusive)", max_lines=1, elem_id="lb-until")
        refresh = gr.Button("Refresh", variant="primary", elem_id="lb-refresh", scale=0, min_width=120)
    status = gr.HTML(elem_id="lb-status", js_on_load=None)
    table = gr.HTML(elem_id="lb-table", js_on_load=None)
    with gr.Row():
        wins = gr.Plot(label="Win fraction", elem_id="lb-wins")
        battles = gr.Plot(label="Votes per pair", elem_id="lb-battles")
    diagnostics = gr.HTML(elem_id="lb-diagnostics", js_on_load=None)
    with gr.Accordion("Export the votes that match the filters", open=False, elem_id="lb-exports"):
        with gr.Row():
            exports = {fmt: gr.Button(label, elem_id=f"export-{fmt}") for fmt, label in EXPORTS}
        file = gr.File(label="exported JSONL", elem_id="export-file", interactive=False)
    return LeaderboardTab(blind_only, prompt_set, since, until, refresh, status, table, wins, battles, diagnostics,
                          exports, file)


def build_leaderboard_tab(services: Any) -> LeaderboardTab | None:
    """Lay out and wire the tab (call inside a `gr.Tab`); a notice instead without a store."""
    store = services.store
    if store is None:
        gr.Markdown(f"The Leaderboard reads the votes from a database. {services.store_note}", elem_id="lb-off")
        return None
    tab = _layout()
    outputs = [tab.table, tab.wins, tab.battles, tab.diagnostics, tab.status, tab.prompt_set]

    def refresh(*filters: Any) -> dict:
        try:
            out = board_outputs(tab, store, vote_filter(*filters), services.settings.min_votes)
            return out | {tab.prompt_set: gr.update(choices=set_choices(store))}
        except (ValueError, StoreError) as e:
            return {tab.status: status_html(f"Cannot compute the leaderboard: {e}", "error")}

    def save(fmt: str, *filters: Any) -> dict:
        try:
            path, n = export_file(store, fmt, vote_filter(*filters))
        except (ValueError, StoreError, OSError) as e:
            return {tab.status: status_html(f"Export failed: {e}", "error"), tab.file: None}
        log.info("exported %d %s rows to %s", n, fmt, path)
        return {tab.status: status_html(f"Exported {n} {fmt} rows to {path.name}.", "ok"), tab.file: str(path)}

    tab.refresh.click(refresh, tab.filters(), outputs, show_progress="full")
    if services.page is not None:
        services.page.load(refresh, tab.filters(), outputs, show_progress="hidden")
    for fmt, button in tab.exports.items():
        button.click(functools.partial(save, fmt), tab.filters(), [tab.status, tab.file], show_progress="full")
    return tab
