"""Importing an offline evaluation's generations.jsonl as battles (plain dicts, no backends)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage import Store
from storage.import_eval import default_prompt_set, import_run, main, read_generations
from tests.storage.conftest import FAST

LABELS = ("sampling", "args:w=3", "rad:beta=10")


def eval_record(label: str, prompt_index: int, sample: int, text: str, stop: str = "eos") -> dict:
    """One line of backends.evaluate's generations.jsonl (the keys the import reads)."""
    decoder = label.split(":")[0]
    prompt = f"prompt number {prompt_index}"
    request = {"prompt": prompt, "decoder": decoder, "config": {}, "rewards": {"sentiment": 1.0},
               "reward_config": {}, "preset": "embedded", "seed": 100 * prompt_index + sample,
               "max_new_tokens": 8, "raw_prompt": False, "keywords": []}
    finished = {"type": "finished", "text": text, "stop_reason": stop, "reward": 0.5, "reward_parts": {},
                "cost": {"lm_tokens": 3, "reward_tokens": 0, "wall_ms": 1.0}, "new_tokens": 2,
                "seed": request["seed"], "config": {"decoder": decoder, "k": len(label)},
                "error": "boom" if stop == "error" else None}
    return {"label": label, "decoder": decoder, "prompt_index": prompt_index, "sample": sample,
            "seed": request["seed"], "prompt": prompt, "request": request, "text": text, "stop_reason": stop,
            "model_ids": {"policy": "zoo:tiny-sft"}, "eval": {}, "trace": [finished]}


def write_run(folder: Path, records: list[dict], torn: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "generations.jsonl").write_text(lines + ('{"label": "samp' if torn else ""))
    (folder / "results.json").write_text(json.dumps({"run": {"prompts_file": "assets/prompts/reviews.jsonl"}}))
    return folder


@pytest.fixture
def records() -> list[dict]:
    rows = [eval_record(label, p, 0, f"{label} on {p}") for p in range(2) for label in LABELS]
    rows.append(eval_record("sampling", 0, 1, "second sample"))  # no partner: no battle
    rows[5] = eval_record("rad:beta=10", 1, 0, "args:w=3 on 1")  # same text as args on prompt 1
    rows[2] = eval_record("rad:beta=10", 0, 0, "", stop="error")
    return rows


def test_import_saves_finished_generations_and_pairs_configurations(store, records):
    done = import_run(store, records, "reviews", blind=True)
    assert (done.generations, done.skipped_unfinished, done.skipped_identical) == (6, 1, 1)
    # prompt 0: sampling vs args (rad failed); prompt 1: sampling vs args, sampling vs rad (args = rad skipped)
    assert done.battles == 3
    assert store.counts() == {"prompts": 2, "generations": 6, "battles": 3, "votes": 0, "annotators": 0}
    needs = store.battles_needing_votes(limit=10)
    assert len(needs) == 3 and store.prompt_sets() == ["reviews"]
    battle = store.battle(needs[0].battle_id)
    assert battle.blind and battle.left.prompt == battle.right.prompt
    assert battle.left.label != battle.right.label


def test_named_battles(store, records):
    import_run(store, records, "", blind=False)
    needs = store.battles_needing_votes(limit=10)
    assert needs and not any(store.battle(n.battle_id).blind for n in needs)


def test_cli_imports_into_sqlite(tmp_path, records, capsys):
    folder = write_run(tmp_path / "run", records, torn=True)
    assert default_prompt_set(folder) == "reviews"
    assert len(read_generations(folder)) == len(records)  # the torn last line is skipped
    url = f"sqlite:///{tmp_path / 'votes.db'}"
    assert main([str(folder), "--database", url]) == 0
    assert "imported 6 generations and 3 blind battles" in capsys.readouterr().out
    with Store.open(url, retry=FAST) as store:
        assert store.counts()["battles"] == 3 and store.prompt_sets() == ["reviews"]
        gen = store.generation(store.battle(store.battles_needing_votes(limit=1)[0].battle_id).left.id)
        assert gen.seed is not None and gen.trace and gen.trace[-1]["type"] == "finished"


def test_cli_names_a_missing_folder(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere"), "--database", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "generations.jsonl" in err[0]
