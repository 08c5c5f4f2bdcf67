"""The Leaderboard tab: decoder configurations ranked from the stored votes, with filters and exports.

Reads the votes that match the filters (blind only, prompt set, date range, signed-in annotators
only) with `Store.vote_rows`, ranks them with `backends.ranking.leaderboard` (Bradley-Terry,
bootstrap intervals, Chatbot Arena ranks; configurations in fewer than `Settings.min_votes` votes
are provisional and ranked last) and shows the table, the win-fraction and vote-count heatmaps,
the side bias and each annotator's agreement with the crowd (`playground.leaderboard_render`).
In public mode the annotators are "annotator 1", "annotator 2"... (no ids). The operator panel
takes the operator's token (`PLAYGROUND_OPERATOR_TOKEN`, checked by `storage.access`) to export
the same votes as TRL DPO rows, KTO rows or whole battles (`storage.export`) into the one bounded
export folder (`ExportFolder`), and to show the agreement table with the real annotator ids.
Without a token configured these are open on a private server and off on a public one. Computed
on page load and on Refresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from backends.ranking import leaderboard
from playground.arena_render import status_html
from playground.identity import client_address, is_verified
from playground.leaderboard_render import agreement_html, heatmap, ratings_html, side_bias_html
from playground.settings import Settings
from storage import StoreError, VoteFilter
from storage.access import Forbidden, TokenGuard, require_operator
from storage.export import ExportFolder, export
from storage.records import pseudonymous

if TYPE_CHECKING:  # the store's class imports SQLAlchemy; the page is built before it is needed
    from storage import Store

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
    verified: gr.Checkbox
    refresh: gr.Button
    status: gr.HTML
    table: gr.HTML
    wins: gr.Plot
    battles: gr.Plot
    diagnostics: gr.HTML
    token: gr.Textbox | None  # the operator's token (None: no operator panel)
    exports: dict[str, gr.Button]
    annotators: gr.Button | None
    operator: gr.HTML
    file: gr.File | None

    def filters(self) -> list:
        return [self.blind_only, self.prompt_set, self.since, self.until, self.verified]


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


def board_rows(store: Store, where: VoteFilter, verified_only: bool = False, public: bool = False) -> list:
    """The votes matching `where` (signed-in annotators' only if asked); public: annotators pseudonymous."""
    rows = store.vote_rows(where)
    if verified_only:
        rows = [r for r in rows if is_verified(r.annotator)]
    return pseudonymous(rows) if public else rows


def board_outputs(tab: LeaderboardTab, rows: list, min_votes: int = 0) -> dict:
    """Every output of a refresh for `rows` (configurations in fewer than `min_votes`: provisional)."""
    board = leaderboard(rows, resamples=200, seed=0, min_votes=min_votes)
    return {tab.table: ratings_html(board, len(rows), min_votes), tab.wins: heatmap(board, "win_fraction"),
            tab.battles: heatmap(board, "battles"), tab.diagnostics: side_bias_html(board) + agreement_html(board),
            tab.status: ""}


def export_file(store: Store, fmt: str, where: VoteFilter, folder: ExportFolder | None = None) -> tuple[Path, int]:
    """Write the matching votes as `fmt` JSONL into the bounded export folder; (its path, rows written)."""
    path = (folder or ExportFolder()).new_path(fmt)
    return path, export(store, fmt, path, where)


def operator_check(settings: Settings, token: str | None, guard: TokenGuard | None = None,
                   request: gr.Request | None = None) -> None:
    """Pass when protected data may be shown: the right token, or no token configured on a private server.
    With a `guard`, a client that typed too many wrong tokens is refused for a while."""
    if settings.exports or settings.public:
        if guard is None:
            require_operator(token, settings.operator_env)
        else:
            guard.check(token, settings.operator_env, client_address(request, settings.login))


def _layout(settings: Settings) -> LeaderboardTab:
    gr.Markdown("### Leaderboard: decoder configurations ranked by the votes", elem_id="lb-title")
    with gr.Row(equal_height=True):
        blind_only = gr.Checkbox(value=True, label="blind votes only (the Arena)", elem_id="lb-blind")
        prompt_set = gr.Dropdown([ALL], value=ALL, label="prompt set", elem_id="lb-set", allow_custom_value=True)
        since = gr.Textbox(label="from (YYYY-MM-DD)", max_lines=1, elem_id="lb-since")
        until = gr.Textbox(label="to (YYYY-MM-DD, inclusive)", max_lines=1, elem_id="lb-until")
        verified = gr.Checkbox(value=False, label="signed-in annotators only", elem_id="lb-verified")
        refresh = gr.Button("Refresh", variant="primary", elem_id="lb-refresh", scale=0, min_width=120)
    status = gr.HTML(elem_id="lb-status", js_on_load=None)
    table = gr.HTML(elem_id="lb-table", js_on_load=None)
    with gr.Row():
        wins = gr.Plot(label="Win fraction", elem_id="lb-wins")
        battles = gr.Plot(label="Votes per pair", elem_id="lb-battles")
    diagnostics = gr.HTML(elem_id="lb-diagnostics", js_on_load=None)
    token, exports, annotators, file = None, {}, None, None
    with gr.Accordion("Operator: export the votes that match the filters, annotator ids", open=False,
                      elem_id="lb-exports"):
        if settings.public and not settings.exports:
            gr.Markdown("Exports and annotator data are off on this public server (the operator has not set "
                        "`PLAYGROUND_OPERATOR_TOKEN`).", elem_id="lb-exports-off")
        else:
            if settings.exports:
                token = gr.Textbox(label="operator token", type="password", max_lines=1, elem_id="lb-token")
            with gr.Row():
                exports = {fmt: gr.Button(label, elem_id=f"export-{fmt}") for fmt, label in EXPORTS}
                annotators = gr.Button("Annotator ids and agreement", elem_id="lb-annotators")
            file = gr.File(label="exported JSONL", elem_id="export-file", interactive=False)
        operator = gr.HTML(elem_id="lb-operator", js_on_load=None)
    return LeaderboardTab(blind_only, prompt_set, since, until, verified, refresh, status, table, wins, battles,
                          diagnostics, token, exports, annotators, operator, file)


def build_leaderboard_tab(services: Any) -> LeaderboardTab | None:
    """Lay out and wire the tab (call inside a `gr.Tab`); a notice instead without a store."""
    store, settings = services.store, services.settings
    if store is None:
        gr.Markdown(f"The Leaderboard reads the votes from a database. {services.store_note}", elem_id="lb-off")
        return None
    tab = _layout(settings)
    outputs = [tab.table, tab.wins, tab.battles, tab.diagnostics, tab.status, tab.prompt_set]

    def refresh(blind: bool, prompt_set: str | None, since: str | None, until: str | None,
                verified: bool = False) -> dict:
        try:
            rows = board_rows(store, vote_filter(blind, prompt_set, since, until), verified, settings.public)
            out = board_outputs(tab, rows, settings.min_votes)
            return out | {tab.prompt_set: gr.update(choices=set_choices(store))}
        except (ValueError, StoreError) as e:
            return {tab.status: status_html(settings.shown(f"Cannot compute the leaderboard: {e}"), "error")}

    tab.refresh.click(refresh, tab.filters(), outputs, show_progress="full")
    if services.page is not None:
        services.page.load(refresh, tab.filters(), outputs, show_progress="hidden")
    if tab.file is not None:
        _wire_operator(tab, store, settings)
    return tab


def _wire_operator(tab: LeaderboardTab, store: Store, settings: Settings) -> None:
    """Exports and the annotator table, each behind `operator_check` (wrong tokens limited per client)."""
    guard = TokenGuard()

    def save(fmt: str, token: str | None, blind: bool, prompt_set: str | None, since: str | None,
             until: str | None, verified: bool = False, request: gr.Request | None = None) -> dict:
        try:
            operator_check(settings, token, guard, request)
            path, n = export_file(store, fmt, vote_filter(blind, prompt_set, since, until))
        except Forbidden as e:
            return {tab.status: status_html(f"Nothing was exported: {e}", "error"), tab.file: None}
        except (ValueError, StoreError, OSError) as e:
            return {tab.status: status_html(settings.shown(f"Export failed: {e}"), "error"), tab.file: None}
        log.info("exported %d %s rows to %s", n, fmt, path)
        every = " (every annotator: the signed-in filter applies to the ranking only)" if verified else ""
        return {tab.status: status_html(f"Exported {n} {fmt} rows to {path.name}{every}.", "ok"),
                tab.file: str(path)}

    def annotators(token: str | None, blind: bool, prompt_set: str | None, since: str | None, until: str | None,
                   verified: bool = False, request: gr.Request | None = None) -> str:
        try:
            operator_check(settings, token, guard, request)
            rows = board_rows(store, vote_filter(blind, prompt_set, since, until), verified)
            board = leaderboard(rows, resamples=100, seed=0, min_votes=settings.min_votes)
        except Forbidden as e:
            return status_html(f"Annotator ids are operator-only: {e}", "error")
        except (ValueError, StoreError) as e:
            return status_html(settings.shown(f"Cannot read the annotators: {e}"), "error")
        return agreement_html(board) or status_html("No votes match the filters.", "info")

    token = [tab.token] if tab.token is not None else [gr.State(None)]
    for fmt, button in tab.exports.items():
        button.click(_bound(save, fmt), token + tab.filters(), [tab.status, tab.file],
                     show_progress="full", api_visibility="private")
    tab.annotators.click(annotators, token + tab.filters(), tab.operator, show_progress="full",
                         api_visibility="private")


def _bound(save, fmt: str):
    """`save` with its format fixed, keeping a signature Gradio reads (it injects `request` by its type)."""
    def export(token: str | None, blind: bool, prompt_set: str | None, since: str | None, until: str | None,
               verified: bool = False, request: gr.Request | None = None) -> dict:
        return save(fmt, token, blind, prompt_set, since, until, verified, request)
    export.format = fmt  # type: ignore[attr-defined]  # tests find the handler by it
    return export
