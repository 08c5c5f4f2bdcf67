"""The Leaderboard tab: filters, the ranking table and heatmaps (escaped), side bias and agreement,
the export buttons' files (the right rows for DPO, KTO and battles, in the bounded export folder),
and what the operator's token guards: exports and annotator ids need it where one is set, are off on a
public server without one, and the public board names no annotator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import pytest

from backends.ranking import leaderboard
from playground.leaderboard import ALL, TYPED, export_file, vote_filter
from playground.leaderboard_render import agreement_html, heatmap, plotly_text, ratings_html, side_bias_html
from playground.settings import Settings
from playground.ui import build_ui
from storage import Store
from storage.export import ExportFolder
from tests.playground.fakes import PresetEngine, scripts

SCRIPT = "<script>alert(1)</script>"


def _gen(store: Store, prompt: str, decoder: str, text: str, prompt_set: str = "reviews", **config) -> int:
    cfg = {"decoder": decoder, **config}
    finished = {"type": "finished", "text": text, "stop_reason": "eos", "config": cfg, "seed": 1}
    return store.save_generation({"prompt": prompt, "prompt_set": prompt_set, "decoder": decoder, "config": cfg,
                                  "rewards": {}, "preset": "fake", "trace": [finished]})


@pytest.fixture
def store(tmp_path):
    """Three blind battles of prs (with a script in its config) against args, and one named one."""
    with Store.open("sqlite:///" + str(tmp_path / "t.db")) as s:
        for i, (choice, who) in enumerate([("left", "<b>eve</b>"), ("tie", "bob"), ("both_bad", "bob")]):
            a = _gen(s, f"{SCRIPT} prompt {i}", "prs", f"prs text {i}", preference=SCRIPT)
            b = _gen(s, f"{SCRIPT} prompt {i}", "args", f"args text {i}", k=10)
            s.cast_vote(s.create_battle(a, b, blind=True, left="a"), who, choice, "why")
        a, b = _gen(s, "typed", "args", "x", "", k=10), _gen(s, "typed", "rad", "y", "")
        s.cast_vote(s.create_battle(a, b, blind=False, left="a"), "bob", "right")
        yield s


def test_filters_read_from_the_widgets():
    f = vote_filter(True, ALL, "2025-01-02", "2025-01-05")
    assert f.blind_only and f.prompt_set is None
    assert f.since == datetime(2025, 1, 2, tzinfo=UTC) and f.until == datetime(2025, 1, 6, tzinfo=UTC)  # inclusive
    assert vote_filter(False, TYPED, "", None).prompt_set == ""
    assert vote_filter(False, "reviews", None, "").until is None
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        vote_filter(False, ALL, "last week", None)


def test_the_ranking_table_and_heatmaps_escape_every_label(store):
    rows = store.vote_rows(vote_filter(True, ALL, None, None))
    board = leaderboard(rows, resamples=100)
    table = ratings_html(board, len(rows))
    assert "<script>" not in table and table.count("<tr>") == 3
    assert '>args</td>' in table  # readable: k=10 is args' default
    assert 'title="args(k=10) @fake"' in table  # the full label in the tooltip
    assert ">prs preference=&quot;&lt;script&gt;alert(1)&lt;/scrip…&quot;</td>" in table  # long text cut
    assert "3 votes over 2 configurations" in table
    for which in ("win_fraction", "battles"):
        fig = heatmap(board, which)
        assert isinstance(fig, go.Figure) and fig.data[0].type == "heatmap"
        shown = json.dumps(fig.to_plotly_json()["data"])
        assert "<script>" not in shown and "&lt;script&gt;" in shown
    wins = heatmap(board, "win_fraction").data[0]
    assert list(wins.x) == ['1. prs preference="&lt;script&gt;ale…', "2. args"]  # cut to AXIS_CHARS
    assert wins.z[0][0] is None and wins.z[0][1] == pytest.approx(2 / 3)  # prs first: a win and two ties of 3
    assert wins.z[1][0] == pytest.approx(1 / 3)
    assert "left side won <b>100%</b> of 1 decisive" in side_bias_html(board)
    agree = agreement_html(board)
    assert "&lt;b&gt;eve&lt;/b&gt;" in agree and "<b>eve" not in agree
    assert plotly_text('<a href="x">') == '&lt;a href="x"&gt;'


def test_the_leaderboard_of_no_votes_says_so(store):
    board = leaderboard(store.vote_rows(vote_filter(True, "none-such", None, None)), resamples=100)
    assert "No votes match" in ratings_html(board, 0) and heatmap(board, "battles").data[0].z == ()


def test_exports_write_the_right_rows(store, tmp_path):
    where = vote_filter(True, ALL, None, None)
    folder = ExportFolder(tmp_path)
    path, n = export_file(store, "dpo", where, folder)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert n == 1 and rows == [{"prompt": f"{SCRIPT} prompt 0", "chosen": "prs text 0", "rejected": "args text 0"}]
    path, n = export_file(store, "kto", where, folder)
    labels = [(r["completion"], r["label"]) for r in map(json.loads, path.read_text().splitlines())]
    assert labels == [("prs text 0", True), ("args text 0", False), ("prs text 2", False), ("args text 2", False)]
    path, n = export_file(store, "battles", vote_filter(False, ALL, None, None), folder)
    battles = [json.loads(line) for line in path.read_text().splitlines()]
    assert n == 4 and [b["vote"]["choice"] for b in battles] == ["left", "tie", "both_bad", "right"]
    assert path.name.startswith("battles-") and path.suffix == ".jsonl"


def test_the_export_and_refresh_buttons_as_gradio_calls_them(store):
    demo = build_ui(PresetEngine(scripts()), Settings(preset="fake"), store=store)
    handlers = {f.fn.format: f.fn for f in demo.fns.values() if getattr(f.fn, "format", None)}
    assert set(handlers) == {"dpo", "kto", "battles"}
    out = {c.elem_id: v for c, v in handlers["kto"](None, True, ALL, None, None).items()}
    assert "Exported 4 kto rows" in out["lb-status"] and out["export-file"].endswith(".jsonl")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    out = {c.elem_id: v for c, v in handlers["dpo"](None, True, ALL, tomorrow, None).items()}
    assert "Exported 0 dpo rows" in out["lb-status"]
    out = {c.elem_id: v for c, v in handlers["battles"](None, True, ALL, "soon", None).items()}
    assert "Export failed" in out["lb-status"] and out["export-file"] is None
    refresh = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "refresh")
    out = {c.elem_id: v for c, v in refresh(False, "reviews", None, None).items()}
    assert "3 votes over 2 configurations" in out["lb-table"] and isinstance(out["lb-wins"], go.Figure)
    assert out["lb-set"]["choices"] == [ALL, TYPED, "reviews"]
    assert "bob" in out["lb-diagnostics"]  # a private server shows the ids


TOKEN = "operator-token-0123456789"


def _handlers(demo) -> dict:
    out = {f.fn.format: f.fn for f in demo.fns.values() if getattr(f.fn, "format", None)}
    for f in demo.fns.values():
        if getattr(f.fn, "__name__", "") in ("refresh", "annotators"):
            out[f.fn.__name__] = f.fn
    return out


def test_a_public_board_names_no_annotator_and_can_show_signed_in_votes_only(store):
    a, b = _gen(store, "p", "args", "x", k=10), _gen(store, "p", "rad", "y")
    store.cast_vote(store.create_battle(a, b, blind=True, left="a"), "hf:alice", "left")
    public = _handlers(build_ui(PresetEngine(scripts()), Settings(preset="fake", public=True), store=store))
    out = {c.elem_id: v for c, v in public["refresh"](False, ALL, None, None, False).items()}
    assert "annotator 1" in out["lb-diagnostics"]
    assert not any(name in out["lb-diagnostics"] for name in ("bob", "eve", "alice"))
    only = {c.elem_id: v for c, v in public["refresh"](False, ALL, None, None, True).items()}
    assert "1 vote over 2 configurations" in only["lb-table"]  # alice's vote only


def test_exports_and_annotator_ids_need_the_operator_token(store):
    guarded = _handlers(build_ui(PresetEngine(scripts()), Settings(preset="fake", public=True, operator_token=TOKEN),
                                 store=store))
    for token in (None, "", "wrong-token-0123456789", TOKEN[:-1]):
        out = {c.elem_id: v for c, v in guarded["dpo"](token, True, ALL, None, None).items()}
        assert "Nothing was exported" in out["lb-status"] and out["export-file"] is None
        assert "Annotator ids are operator-only" in guarded["annotators"](token, False, ALL, None, None)
    out = {c.elem_id: v for c, v in guarded["dpo"](TOKEN, True, ALL, None, None).items()}
    assert "Exported 1 dpo rows" in out["lb-status"] and out["export-file"].endswith(".jsonl")
    assert str(ExportFolder().root) in out["export-file"]  # the one bounded folder
    assert "&lt;b&gt;eve&lt;/b&gt;" in guarded["annotators"](TOKEN, False, ALL, None, None)


def test_a_public_server_without_a_token_has_no_exports(store):
    demo = build_ui(PresetEngine(scripts()), Settings(preset="fake", public=True), store=store)
    ids = {b.elem_id for b in demo.blocks.values()}
    assert "lb-exports-off" in ids and not {"export-dpo", "export-file", "lb-annotators"} & ids
    assert not set(_handlers(demo)) & {"dpo", "kto", "battles", "annotators"}


def _rows(pairs: list[tuple[str, str, str]]) -> list:
    class Row:  # what the ranking reads of a vote
        def __init__(self, a: str, b: str, outcome: str):
            self.config_a, self.config_b, self.outcome = a, b, outcome

    return [Row(*p) for p in pairs]


def test_a_configuration_with_few_votes_is_provisional_and_ranked_after_the_others():
    lucky = 'tqstar(k=5, rollout_len=8)'
    rows = _rows([("args(w=3.0)", "sampling()", "a")] * 8 + [("sampling()", "args(w=3.0)", "tie")] * 4
                 + [(lucky, "sampling()", "a")])
    board = leaderboard(rows, resamples=100, min_votes=10)
    assert [r.config for r in board.ratings] == ["args(w=3.0)", "sampling()", lucky]
    assert board.ratings[2].score > board.ratings[0].score  # it would head the table on its score alone
    assert [r.provisional for r in board.ratings] == [False, False, True]
    assert board.ratings[2].rank == 3
    table = ratings_html(board, len(rows), 10)
    assert table.count("lb-provisional") == 1 and "fewer than 10 votes" in table
    assert leaderboard(rows, resamples=100).ratings[0].config == lucky  # min_votes 0: by score
    with pytest.raises(ValueError, match="min_votes=-1"):
        leaderboard(rows, resamples=100, min_votes=-1)


def test_the_minimum_number_of_votes_is_a_setting():
    assert Settings().min_votes == 10 and Settings.from_env({}).min_votes == 10
    assert Settings.from_env({"PLAYGROUND_MIN_VOTES": "3"}).min_votes == 3
    with pytest.raises(ValueError, match="PLAYGROUND_MIN_VOTES='ten'"):
        Settings.from_env({"PLAYGROUND_MIN_VOTES": "ten"})


def test_pairs_that_never_met_are_blank_cells_that_say_so():
    rows = _rows([("a_cfg()", "b_cfg()", "a"), ("b_cfg()", "c_cfg()", "tie")])
    board = leaderboard(rows, resamples=100)
    for which in ("win_fraction", "battles"):
        fig = heatmap(board, which)
        cells, dots = fig.data
        index = {name.split(". ", 1)[1]: i for i, name in enumerate(cells.x)}
        a, c = index["a_cfg()"], index["c_cfg()"]
        assert cells.z[a][c] is None and cells.z[c][a] is None and cells.z[a][a] is None
        assert cells.text[a][c] == "" and "no battles" in cells.hovertext[a][c]
        assert cells.z[a][index["b_cfg()"]] is not None
        blank = {(x, y) for x, y in zip(dots.x, dots.y, strict=True)}
        assert (cells.x[c], cells.y[a]) in blank and (cells.x[a], cells.y[a]) in blank
        assert len(blank) == 3 + 2 and set(dots.hovertext) == {"no battles"}


def test_guessing_the_operator_token_is_stopped_per_client(store):
    guarded = _handlers(build_ui(PresetEngine(scripts()), Settings(preset="fake", public=True, operator_token=TOKEN),
                                 store=store))

    class Client:  # what Gradio injects: the socket peer is the client address
        def __init__(self, host: str):
            self.headers: dict = {}
            self.client = type("Peer", (), {"host": host})()

    guesser, other = Client("198.51.100.1"), Client("198.51.100.2")
    for i in range(5):
        guarded["annotators"](f"guess-{i:020d}", False, ALL, None, None, request=guesser)
    out = {c.elem_id: v for c, v in guarded["dpo"](TOKEN, True, ALL, None, None, request=guesser).items()}
    assert "too many wrong operator tokens" in out["lb-status"] and out["export-file"] is None
    out = {c.elem_id: v for c, v in guarded["dpo"](TOKEN, True, ALL, None, None, request=other).items()}
    assert "Exported 1 dpo rows" in out["lb-status"]
