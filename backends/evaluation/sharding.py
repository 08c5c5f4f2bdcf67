"""Processes and files of an evaluation: who runs which prompts, and the JSONL every rank writes.

One process writes `generations.jsonl` directly; under `torchrun` / `accelerate launch` each
rank appends to `generations.rank{i}.jsonl` and rank 0 gathers every file (after a barrier)
into one `generations.jsonl`, sorted and without duplicate keys. Lines are flushed one
generation at a time, so an interrupted run leaves whole lines (a torn last line is cut off
when the file is next opened). Not the evaluation itself: records are plain dicts here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from backends.evaluation.output_format import GENERATIONS, SHARD

Key = tuple[str, int, int]  # (decoder label, prompt index, sample)


def record_key(record: dict[str, Any]) -> Key:
    return record["label"], int(record["prompt_index"]), int(record["sample"])


class Processes:
    """This process's place among the ranks (accelerate's PartialState) and its device."""

    def __init__(self, device: str = "auto"):
        from accelerate import PartialState  # a heavy import, only for runs that need it

        cuda = torch.cuda.is_available() and not device.startswith("cpu")
        self.state = PartialState(cpu=not cuda)
        self.index, self.count = self.state.process_index, self.state.num_processes
        if device != "auto":
            self.device = device
        else:
            self.device = f"cuda:{self.state.local_process_index}" if cuda else "cpu"

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def split(self, items: Sequence[int]) -> list[int]:
        """This rank's contiguous share of `items` (the same split on every rank)."""
        with self.state.split_between_processes(list(items)) as part:
            return list(part)

    def barrier(self) -> None:
        self.state.wait_for_everyone()


def shard_path(out: Path, rank: int, ranks: int) -> Path:
    return out / GENERATIONS if ranks == 1 else out / SHARD.format(rank=rank)


def shard_files(out: Path) -> list[Path]:
    return sorted(out.glob(SHARD.format(rank="*")))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Whole JSON lines of `path` (none if missing); a torn or broken line is skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def existing_records(out: Path) -> list[dict[str, Any]]:
    """Everything written so far: the gathered file and any rank's shard, first copy of a key wins."""
    seen: dict[Key, dict[str, Any]] = {}
    for path in [out / GENERATIONS, *shard_files(out)]:
        for row in read_jsonl(path):
            seen.setdefault(record_key(row), row)
    return list(seen.values())


class JsonlWriter:
    """Appends one record per line and flushes it; cuts a torn last line before appending."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(path)
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _cut_torn_tail(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` in one step, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def gather(out: Path, sort_key: Callable[[dict[str, Any]], Any], *, remove_shards: bool) -> list[dict[str, Any]]:
    """Merge every shard into `generations.jsonl` (sorted, one line per key); returns the records.

    Shards are removed only after a complete run: after an interruption another rank may still be
    writing its last line, and the next run reads the shards anyway.
    """
    records = sorted(existing_records(out), key=sort_key)
    write_atomic(out / GENERATIONS, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    if remove_shards:
        for path in shard_files(out):
            path.unlink()
    return records


def keys(records: Iterable[dict[str, Any]]) -> set[Key]:
    return {record_key(r) for r in records}
