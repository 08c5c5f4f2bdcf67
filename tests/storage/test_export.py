"""Exports on a small synthetic set (DPO, KTO, raw battles; filters; the command line).

The escaping of stored text is the playground's (tests/playground/test_escape.py)."""

from __future__ import annotations

import json

import pytest

from storage import Store, VoteFilter
from storage.export import dpo_rows, export, kto_rows, main
from tests.storage.conftest import battle

EVIL = "<script>alert('x')</script>"


@pytest.fixture
def voted(store: Store) -> dict[str, int]:
    """Four voted battles (decisive on the right, tie, both bad, decisive named) and one open battle."""
    ids = {
        "right_wins": battle(store, prompt=f"P1 {EVIL}", texts=("a1", f"b1 {EVIL}"), left="a"),
        "tie": battle(store, prompt="P2", texts=("a2", "b2")),
        "both_bad": battle(store, prompt="P3", texts=("a3", "b3"), left="b"),
        "named": battle(store, prompt="P4", texts=("a4", "b4"), blind=False, left="b"),
        "open": battle(store, prompt="P5", texts=("a5", "b5")),
    }
    store.cast_vote(ids["right_wins"], "ann", "right", f"because {EVIL}")
    store.cast_vote(ids["tie"], "ann", "tie")
    store.cast_vote(ids["both_bad"], "ann", "both_bad")
    store.cast_vote(ids["named"], "ann2", "left")  # left is b
    return ids


def read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_dpo_keeps_decisive_votes_with_text_verbatim(store, voted, tmp_path):
    assert export(store, "dpo", tmp_path / "dpo.jsonl") == 2
    assert read(tmp_path / "dpo.jsonl") == [
        {"prompt": f"P1 {EVIL}", "chosen": f"b1 {EVIL}", "rejected": "a1"},
        {"prompt": "P4", "chosen": "b4", "rejected": "a4"},
    ]
    assert export(store, "dpo", tmp_path / "blind.jsonl", VoteFilter(blind_only=True)) == 1


def test_kto_labels_both_bad_false_and_decisive_winner_true(store, voted, tmp_path):
    assert export(store, "kto", tmp_path / "kto.jsonl") == 6
    rows = read(tmp_path / "kto.jsonl")
    assert rows[:2] == [{"prompt": f"P1 {EVIL}", "completion": "a1", "label": False},
                        {"prompt": f"P1 {EVIL}", "completion": f"b1 {EVIL}", "label": True}]
    assert rows[2:4] == [{"prompt": "P3", "completion": "a3", "label": False},
                         {"prompt": "P3", "completion": "b3", "label": False}]
    assert not any(r["prompt"] == "P2" for r in rows)  # ties carry no label


def test_battles_export_has_generations_configs_trace_and_vote(store, voted, tmp_path):
    assert export(store, "battles", tmp_path / "battles.jsonl") == 4
    first = read(tmp_path / "battles.jsonl")[0]
    assert first["id"] == voted["right_wins"] and first["left"] == "a" and first["right"] == "b"
    assert first["a"]["config"] == {"decoder": "args", "k": 10} and first["b"]["seed"] == 7
    assert first["b"]["trace"][-1]["type"] == "finished"
    assert first["vote"]["outcome"] == "b" and first["vote"]["rationale"] == f"because {EVIL}"
    assert first["vote"]["created_at"].endswith("+00:00")


def test_the_command_line(store, voted, tmp_path, db_url):
    out = tmp_path / "cli.jsonl"
    assert main(["--format", "dpo", "--out", str(out), "--blind-only", "--database", db_url]) == 0
    assert len(read(out)) == 1
    assert main(["--format", "kto", "--out", str(out), "--database", db_url, "--since", "2000-01-01"]) == 0
    assert len(read(out)) == 6
    assert main(["--format", "dpo", "--out", str(out), "--database", db_url, "--until", "2000-01-01"]) == 0
    assert read(out) == []
    with pytest.raises(ValueError, match="format"):
        export(store, "csv", out)


def test_functions_work_on_any_battles(store, voted):
    battles = list(store.battles(trace=False))
    assert len(list(dpo_rows(battles))) == 2 and len(list(kto_rows(battles))) == 6
