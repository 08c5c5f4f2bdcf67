"""Import an offline evaluation into the database as battles for annotators.

    python -m storage.import_eval runs/reviews [--database URL] [--no-blind] [--prompt-set reviews]

Reads `generations.jsonl` written by `python -m backends.evaluate` as plain dicts (this package
never imports backends; file names and keys come from `assets/formats/evaluation_output.json`, the
format file the evaluator reads too), stores every finished generation with its request and trace,
and for each prompt and sample pairs the generations of different configurations as battles (every pair
of configurations; identical texts are not worth a vote and are skipped). So a prompt set is
evaluated offline once, then judged by people in the Arena tab. Importing a folder twice stores
it twice. Not the evaluator, and no statistics.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.errors import StoreError
from storage.records import FINISHED
from storage.store import Store

log = logging.getLogger(__name__)
# The evaluator's output format, defined once as data that both layers read (neither imports the other)
FORMAT_FILE = Path(__file__).resolve().parents[1] / "assets" / "formats" / "evaluation_output.json"
FORMAT: dict[str, Any] = json.loads(FORMAT_FILE.read_text(encoding="utf-8"))
GENERATIONS: str = FORMAT["files"]["generations"]
RESULTS: str = FORMAT["files"]["results"]
NEEDED: tuple[str, ...] = tuple(FORMAT["import_keys"])


@dataclass(frozen=True)
class Imported:
    """What an import did."""

    generations: int
    battles: int
    skipped_unfinished: int
    skipped_identical: int


def read_generations(folder: Path) -> list[dict[str, Any]]:
    """The evaluation's records (a torn last line of an interrupted run is skipped; any other bad line is a
    ValueError naming the line and the missing key)."""
    path = folder / GENERATIONS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; give the --out folder of python -m backends.evaluate")
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                continue  # the torn tail of an interrupted run
            raise ValueError(f"{path} line {number}: not JSON; is this an evaluation's {GENERATIONS}?") from None
        missing = [k for k in NEEDED if k not in row] if isinstance(row, dict) else ["(not an object)"]
        if missing:
            raise ValueError(f"{path} line {number}: no {missing[0]!r}; the format is {FORMAT_FILE.name}")
        rows.append(row)
    return rows


def default_prompt_set(folder: Path) -> str:
    """The prompt file's name (from results.json) if known, else the folder's name."""
    try:
        run = json.loads((folder / RESULTS).read_text(encoding="utf-8"))["run"]
        return Path(run["prompts_file"]).stem[:64]
    except (OSError, ValueError, KeyError, TypeError):
        return folder.resolve().name[:64]


def _pairs(records: list[dict[str, Any]], ids: list[int | None]) -> tuple[list[tuple[int, int]], int]:
    """Battles: for each (prompt, sample), every pair of configurations with different texts."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if ids[i] is not None:
            groups[(r["prompt_index"], r["sample"])].append(i)
    pairs, identical = [], 0
    for members in groups.values():
        for i, j in itertools.combinations(sorted(members, key=lambda k: records[k]["label"]), 2):
            if records[i]["label"] == records[j]["label"]:
                continue
            if records[i].get("text") == records[j].get("text"):
                identical += 1
                continue
            pairs.append((ids[i], ids[j]))
    return pairs, identical


def import_run(store: Store, records: list[dict[str, Any]], prompt_set: str, *, blind: bool = True) -> Imported:
    """Save the finished generations, then create their battles in one transaction."""
    ids: list[int | None] = []
    for r in records:
        if r.get("stop_reason") not in FINISHED:
            ids.append(None)
            continue
        ids.append(store.save_generation({"request": r["request"], "trace": r["trace"], "prompt_set": prompt_set,
                                          "model_ids": r.get("model_ids") or {}}))
    pairs, identical = _pairs(records, ids)
    battles = store.create_battles(pairs, blind=blind) if pairs else []
    saved = sum(i is not None for i in ids)
    return Imported(saved, len(battles), len(records) - saved, identical)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage.import_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the --out folder of python -m backends.evaluate")
    parser.add_argument("--database", default=None, help="database URL (default: DATABASE_URL, else storage/)")
    parser.add_argument("--blind", action=argparse.BooleanOptionalAction, default=True,
                        help="blind battles (the default) or named ones (--no-blind)")
    parser.add_argument("--prompt-set", default=None, help="prompt set name (default: the prompt file's name)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        records = read_generations(args.folder)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    prompt_set = args.prompt_set if args.prompt_set is not None else default_prompt_set(args.folder)
    try:
        with Store.open(args.database) as store:
            done = import_run(store, records, prompt_set, blind=args.blind)
            url = store.url
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"imported {done.generations} generations and {done.battles} {'blind' if args.blind else 'named'} battles "
          f"into {url} (prompt set {prompt_set!r}); skipped {done.skipped_unfinished} unfinished generations and "
          f"{done.skipped_identical} pairs with identical texts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
