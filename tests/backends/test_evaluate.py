"""The evaluator end to end on the tiny fake preset: tables, files, sweeps, comparisons, resume.

Runs `backends.evaluate.main` in-process with the session's Engine (models load once); the
two-process run under torchrun is in tests/test_multiprocess.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from backends.evaluation import cli as evaluate
from backends.evaluation.inputs import (
    DecoderSpec,
    Prompt,
    RunSettings,
    UsageError,
    load_prompts,
    parse_decoder,
    parse_sweep,
)
from backends.evaluation.loop import make_request, seed_for
from backends.evaluation.sharding import read_jsonl

PROMPTS = [
    {"prompt": "write a review of the film", "tags": ["review"]},
    {"prompt": "use the words dog and park", "keywords": ["dog", "park"]},
    {"prompt": "tell me about the music", "preference": "warm and kind"},
]


def write_preset_file(preset, path: Path) -> Path:
    """The fake preset as the JSON `--preset-file` reads."""
    data = dataclasses.asdict(preset)
    data["prompt_sets"] = list(data["prompt_sets"])
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, fake_preset, tiny_models) -> dict[str, str]:
    root = tmp_path_factory.mktemp("eval_inputs")
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    return {"prompts": str(prompts), "preset": str(write_preset_file(fake_preset, root / "fake.json")),
            "embedder": tiny_models["embedder"]}


def argv(inputs: dict[str, str], out: Path, *extra: str) -> list[str]:
    return ["--prompts", inputs["prompts"], "--preset-file", inputs["preset"], "--embedder", inputs["embedder"],
            "--reward", "sentiment=1", "--reward", "politeness=0.5", "--max-new-tokens", "5", "--out", str(out),
            *extra]


@pytest.fixture(scope="module")
def run_two(inputs, engine, tmp_path_factory) -> tuple[Path, str]:
    """sampling vs ARGS, 2 samples per prompt, compared under the weighted reward."""
    out = tmp_path_factory.mktemp("two")
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = evaluate.main(argv(inputs, out, "--decoder", "sampling", "--decoder", "args:w=2,k=4", "--samples", "2",
                                  "--compare", "args:w=2,k=4", "sampling"), engine=engine)
    assert code == 0
    return out, buffer.getvalue()


def test_tables_are_printed_per_decoder(run_two):
    _, printed = run_two
    for text in ("== sampling: 6 generations over 3 prompts, 0 errors", "== args:w=2,k=4: 6 generations",
                 "reward: sentiment", "reward: politeness", "diversity", "KL to base (sum)", "log ratio (sum)",
                 "tokens/s", "LM tokens / token", "RM tokens / token", "coherence (embedder)",
                 "== args:w=2,k=4 vs sampling (judge: weighted reward): win rate"):
        assert text in printed


def test_results_json_holds_every_metric(run_two):
    out, _ = run_two
    res = json.loads((out / "results.json").read_text())
    assert [d["label"] for d in res["decoders"]] == ["sampling", "args:w=2,k=4"]
    assert res["run"]["complete"] and res["run"]["generations"] == res["run"]["expected"] == 12
    assert res["run"]["coherence_model"].endswith("embedder")
    for d in res["decoders"]:
        m = d["metrics"]
        assert set(d["reward_parts"]) == {"sentiment", "politeness"}
        assert m["reward"]["lo"] <= m["reward"]["mean"] <= m["reward"]["hi"]
        assert 0 <= m["diversity"]["mean"] <= 1 and -1 <= m["coherence"]["mean"] <= 1
        assert m["length"]["mean"] == 5 and m["tokens_per_s"]["mean"] > 0 and m["lm_tokens_per_token"]["mean"] >= 1
    sampling, guided = res["decoders"]
    assert sampling["metrics"]["reward_tokens_per_token"]["mean"] == 0  # unguided: scored after the fact only
    assert guided["metrics"]["reward_tokens_per_token"]["mean"] > 0
    assert sampling["metrics"]["kl"]["mean"] > 0  # temperature 0.8 is not the base distribution
    (comparison,) = res["comparisons"]
    assert comparison["wins"] + comparison["ties"] + comparison["losses"] == 6
    assert 0 <= comparison["lo"] <= comparison["win_rate"] <= comparison["hi"] <= 1


def test_generations_jsonl_has_seed_config_request_and_trace(run_two):
    out, _ = run_two
    rows = read_jsonl(out / "generations.jsonl")
    assert len(rows) == 12 and not list(out.glob("generations.rank*.jsonl"))
    assert len({(r["label"], r["prompt_index"], r["sample"]) for r in rows}) == 12
    for r in rows:
        assert r["seed"] == seed_for(0, r["prompt_index"], r["sample"]) == r["request"]["seed"]
        assert r["trace"][-1]["type"] == "finished" and r["trace"][-1]["text"] == r["text"]
        assert r["config"]["decoder"] == r["decoder"]
    keyword_rows = [r for r in rows if r["prompt_index"] == 1]
    assert all(r["request"]["keywords"] == ["dog", "park"] for r in keyword_rows)
    paired = {(r["prompt_index"], r["sample"]): r["seed"] for r in rows if r["label"] == "sampling"}
    assert all(paired[(r["prompt_index"], r["sample"])] == r["seed"] for r in rows)  # same seeds across decoders


def test_report_html_holds_the_figures(run_two):
    out, _ = run_two
    page = (out / "report.html").read_text()
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js inlined: opens offline
    spec = page.split('<script type="application/json" id="figures">')[1].split("</script>")[0]
    figures = json.loads(spec)
    assert [f["id"] for f in figures] == ["fig-kl", "fig-cost", "fig-ms_per_token"]
    names = {t["name"] for t in figures[0]["data"]}
    assert names == {"sampling", "args:w=2,k=4"}
    assert all(t["y"][0] is not None for t in figures[0]["data"])


def test_sweep_draws_a_trade_off_curve(inputs, engine, tmp_path, capsys):
    code = evaluate.main(argv(inputs, tmp_path, "--sweep", "args:k=4,w=0,3", "--limit", "2"), engine=engine)
    assert code == 0
    res = json.loads((tmp_path / "results.json").read_text())
    (sweep,) = res["sweeps"]
    assert sweep["decoder"] == "args" and sweep["key"] == "w"
    assert [p["value"] for p in sweep["points"]] == ["0", "3"]
    assert [p["label"] for p in sweep["points"]] == ["args:k=4,w=0", "args:k=4,w=3"]
    assert all(p["reward"]["mean"] is not None and p["kl"]["mean"] is not None for p in sweep["points"])
    page = (tmp_path / "report.html").read_text()
    assert "args sweep over w" in page
    assert "== sweep args over w: reward vs KL" in capsys.readouterr().out


@pytest.mark.parametrize("pairs", [("args:w=2,k=4", "sampling"),
                                   [("args:w=2,k=4", "sampling"), ("args:w=2,k=4", "args:w=0,k=4")]])
def test_the_api_compares_one_pair_or_several(inputs, engine, tmp_path, pairs):
    from backends import api

    res = api.evaluate(inputs["prompts"], ["sampling", "args:w=2,k=4", "args:w=0,k=4"], tmp_path, on=engine,
                       quiet=True, preset_file=inputs["preset"], embedder=inputs["embedder"],
                       rewards={"sentiment": 1}, max_new_tokens=3, limit=2, compare=pairs)
    expected = [pairs] if isinstance(pairs, tuple) else pairs
    assert [(c["a"], c["b"]) for c in res["comparisons"]] == expected
    assert all(c["wins"] + c["ties"] + c["losses"] == 2 for c in res["comparisons"])


def test_interrupted_run_keeps_valid_output_and_resumes(inputs, engine, tmp_path, capsys):
    args = argv(inputs, tmp_path, "--decoder", "sampling", "--decoder", "rad:k=4", "--samples", "2")

    def stop_after_three(record, seen=[]):  # noqa: B006 (a counter kept between calls)
        seen.append(record)
        if len(seen) == 3:
            raise KeyboardInterrupt

    assert evaluate.main(args, engine=engine, on_record=stop_after_three) == 130
    first = read_jsonl(tmp_path / "generations.jsonl")
    assert len(first) == 3
    res = json.loads((tmp_path / "results.json").read_text())
    assert not res["run"]["complete"] and res["run"]["generations"] == 3
    assert "interrupted: 3 of 12 generations" in capsys.readouterr().out
    assert "fig-kl" in (tmp_path / "report.html").read_text()
    with (tmp_path / "generations.jsonl").open("a") as f:
        f.write('{"label": "sampling", "prompt_ind')  # a torn line, as if killed mid-write

    made = []
    assert evaluate.main(args, engine=engine, on_record=made.append) == 0
    assert len(made) == 9  # finished generations are not made again
    rows = read_jsonl(tmp_path / "generations.jsonl")
    assert len(rows) == 12 and len({(r["label"], r["prompt_index"], r["sample"]) for r in rows}) == 12
    by_key = {(r["label"], r["prompt_index"], r["sample"]): r for r in rows}
    assert all(by_key[(r["label"], r["prompt_index"], r["sample"])] == r for r in first)
    assert json.loads((tmp_path / "results.json").read_text())["run"]["complete"]


def test_base_sampling_has_zero_kl_and_resume_refuses_other_settings(inputs, engine, tmp_path, capsys):
    args = argv(inputs, tmp_path, "--decoder", "sampling:temperature=1", "--limit", "1")
    assert evaluate.main(args, engine=engine) == 0
    m = json.loads((tmp_path / "results.json").read_text())["decoders"][0]["metrics"]
    assert m["kl"]["mean"] == pytest.approx(0.0, abs=1e-5) and m["log_ratio"]["mean"] == pytest.approx(0.0, abs=1e-4)
    changed = list(args)
    changed[changed.index("5")] = "4"
    capsys.readouterr()
    assert evaluate.main(changed, engine=engine) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "max_new_tokens" in err[0] and "--out" in err[0]


@pytest.mark.parametrize(("extra", "expected"), [
    (["--decoder", "argz"], "unknown decoder 'argz'"),
    (["--decoder", "args:z=1"], "args.z"),
    (["--decoder", "sampling", "--compare", "sampling", "args"], "--compare 'args'"),
    (["--decoder", "sampling", "--judge", "nope"], "--judge 'nope'"),
    (["--sweep", "args:w=0,1,k=1,2"], "one key with several values"),
    ([], "at least one --decoder"),
])
def test_bad_arguments_exit_2_with_one_line(inputs, engine, tmp_path, capsys, extra, expected):
    assert evaluate.main(argv(inputs, tmp_path, *extra), engine=engine) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and expected in err[0]


def test_prompt_files_and_specs(tmp_path):
    text = tmp_path / "p.txt"
    text.write_text("first prompt\n\n{not json} second\n")
    assert [p.text for p in load_prompts(text)] == ["first prompt", "{not json} second"]
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n')
    with pytest.raises(UsageError, match=r"p\.jsonl line 2"):
        load_prompts(bad)
    spec = parse_decoder("prs:preference=Warm, kind and brief.,n0=2")
    assert spec.config == {"preference": "Warm, kind and brief.", "n0": "2"}
    assert [s.config for s in parse_sweep("rad:beta=10,30,k=5")] == [{"beta": "10", "k": "5"},
                                                                      {"beta": "30", "k": "5"}]


def test_prompt_preference_and_keywords_feed_the_request():
    settings = RunSettings(preset="fake", rewards={"preference": 1.0}, reward_config={}, samples=1, seed=3,
                           max_new_tokens=8)
    prompt = Prompt(index=2, text="hi", keywords=("dog",), preference="be warm")
    prs = make_request(DecoderSpec("prs", "prs", {}), prompt, 0, settings)
    assert prs.config["preference"] == "be warm" and prs.keywords == ("dog",)
    assert prs.reward_config == {"preference": {"preference": "be warm"}}
    assert prs.seed == seed_for(3, 2, 0)
    sampling = make_request(DecoderSpec("sampling", "sampling", {}), prompt, 0, settings)
    assert sampling.rewards == {} and sampling.reward_config == {}  # unguided: no reward cost
    own = make_request(DecoderSpec("p", "prs", {"preference": "be brief"}), prompt, 0, settings)
    assert own.config["preference"] == "be brief"


def test_import_into_storage(run_two, tmp_path):
    from storage import Store
    from storage.import_eval import main as import_main

    out, _ = run_two
    url = f"sqlite:///{tmp_path / 'eval.db'}"
    assert import_main([str(out), "--database", url]) == 0
    with Store.open(url) as store:
        counts = store.counts()
        assert counts["generations"] == 12 and counts["prompts"] == 3
        assert 1 <= counts["battles"] <= 6  # one per prompt and sample unless the texts are identical
        assert store.prompt_sets() == ["prompts"]


def test_report_falls_back_to_the_cdn_without_plotly(run_two, monkeypatch):
    from backends.evaluation import report

    out, _ = run_two
    res = json.loads((out / "results.json").read_text())
    monkeypatch.setattr(report, "plotly_js", lambda: (None, "the plotly package is not installed"))
    page = report.render(res)
    assert report.CDN in page and "needs network" in page and '"fig-kl"' in page


def test_preset_file_problems_are_named(inputs, engine, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "policy": "p", "colour": "red"}))
    args = argv(inputs, tmp_path / "out", "--decoder", "sampling")
    args[args.index(inputs["preset"])] = str(bad)
    assert evaluate.main(args, engine=engine) == 2
    assert "unknown key 'colour'" in capsys.readouterr().err
