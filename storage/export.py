"""Votes as training data: TRL preference (DPO) rows, KTO rows, or raw battles, as JSONL.

    python -m storage.export --format dpo --out prefs.jsonl [--blind-only] [--prompt-set S] [--database URL]

- `dpo`: `{"prompt", "chosen", "rejected"}` per decisive vote; ties and both-bad votes are dropped.
- `kto`: `{"prompt", "completion", "label"}`: a both-bad vote gives both completions `label: false`;
  a decisive vote gives the winner `true` and the loser `false`; ties are dropped (no signal).
- `battles`: one JSON object per voted battle: prompt, both generations (config, seed, text,
  reward, cost, trace), which side was left, and the vote.

Text is written exactly as stored (JSON escapes it; nothing is HTML-escaped in a dataset). The
same functions serve the UI: `protected_export(store, "dpo", token, folder)` checks the operator's
token (`storage.access`) and writes into one `ExportFolder` that keeps only the newest few files.
On the command line a bad `--out` or database URL is one line and exit status 2. This module
only reads the database.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from storage.access import require_operator
from storage.errors import Refused, StoreError
from storage.records import BattleView, VoteFilter

if TYPE_CHECKING:
    from storage.store import Store

Format = Literal["dpo", "kto", "battles"]
log = logging.getLogger(__name__)


def dpo_rows(battles: Iterable[BattleView]) -> Iterator[dict[str, str]]:
    """TRL preference rows from decisive votes."""
    for b in battles:
        if b.vote is not None and b.vote.outcome in ("a", "b"):
            chosen, rejected = (b.a, b.b) if b.vote.outcome == "a" else (b.b, b.a)
            yield {"prompt": b.prompt, "chosen": chosen.text, "rejected": rejected.text}


def kto_rows(battles: Iterable[BattleView]) -> Iterator[dict[str, Any]]:
    """TRL KTO rows: both completions undesirable for both-bad votes; winner/loser for decisive ones."""
    for b in battles:
        outcome = None if b.vote is None else b.vote.outcome
        if outcome == "both_bad":
            labels = ((b.a, False), (b.b, False))
        elif outcome in ("a", "b"):
            labels = ((b.a, outcome == "a"), (b.b, outcome == "b"))
        else:
            continue
        for gen, label in labels:
            yield {"prompt": b.prompt, "completion": gen.text, "label": label}


def battle_rows(battles: Iterable[BattleView]) -> Iterator[dict[str, Any]]:
    """Each battle as plain JSON data, generations and vote included."""
    for b in battles:
        row = dataclasses.asdict(b)
        row["left"], row["right"] = b.left_side, "b" if b.left_side == "a" else "a"
        yield _jsonable(row)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


FORMATS: dict[str, Callable[[Iterable[BattleView]], Iterator[dict[str, Any]]]] = {
    "dpo": dpo_rows, "kto": kto_rows, "battles": battle_rows}


def write_jsonl(rows: Iterable[dict[str, Any]], out: Path) -> int:
    """Write rows to `out` (via a temporary file, so a failed export leaves no half file); returns the count."""
    if out.is_dir():
        raise IsADirectoryError(21, "is a folder; give a file name", str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    n = 0
    try:
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def export(store: Store, fmt: Format, out: str | Path, where: VoteFilter | None = None) -> int:
    """Export the voted battles matching `where` as `fmt` to `out`; returns the number of rows."""
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r}: must be one of {', '.join(FORMATS)}")
    return write_jsonl(FORMATS[fmt](store.battles(where, trace=fmt == "battles")), Path(out))


@dataclass(frozen=True)
class ExportFolder:
    """The one folder the UI's exports go to: at most `keep` files, none older than `max_age_s`.

    Every new export removes the older ones first, so downloads never pile up on a server.
    """

    root: Path = Path(tempfile.gettempdir()) / "playground-exports"
    keep: int = 8
    max_age_s: float = 3600.0

    def new_path(self, fmt: str) -> Path:
        """A fresh, unguessable file name for an export of `fmt`, after cleaning the folder."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.clean(room_for=1)
        return self.root / f"{fmt}-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:12]}.jsonl"

    def clean(self, room_for: int = 0) -> list[Path]:
        """Remove files past `max_age_s`, then the oldest until `keep - room_for` remain; returns the removed."""
        files = sorted((p for p in self.root.glob("*") if p.is_file()), key=lambda p: p.stat().st_mtime)
        now = time.time()
        old = [p for p in files if now - p.stat().st_mtime > self.max_age_s]
        rest = [p for p in files if p not in old]
        removed = old + rest[:max(0, len(rest) - max(0, self.keep - room_for))]
        for path in removed:
            path.unlink(missing_ok=True)
        return removed


def protected_export(store: Store, fmt: Format, token: str | None, folder: ExportFolder | None = None,
                     where: VoteFilter | None = None) -> tuple[Path, int]:
    """The operator's export for the UI: token checked (`Forbidden`), written to the bounded folder.

    Returns (file, rows). The file name is random; the folder keeps only the newest exports.
    """
    require_operator(token)
    folder = folder or ExportFolder()
    out = folder.new_path(fmt)
    return out, export(store, fmt, out, where)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=sorted(FORMATS), required=True)
    parser.add_argument("--out", required=True, type=Path, help="JSONL file to write")
    parser.add_argument("--blind-only", action="store_true", help="only votes on blind battles")
    parser.add_argument("--prompt-set", default=None, help="only battles on prompts of this set")
    parser.add_argument("--since", type=datetime.fromisoformat, default=None, help="votes at or after (ISO time)")
    parser.add_argument("--until", type=datetime.fromisoformat, default=None, help="votes before (ISO time)")
    parser.add_argument("--database", default=None, help="database URL (default: DATABASE_URL, else storage/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    where = VoteFilter(blind_only=args.blind_only, prompt_set=args.prompt_set, since=args.since, until=args.until)
    try:
        from storage.store import Store

        store = Store.open(args.database)
    except Refused as error:  # an unparsable or unsupported database URL
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot open the database ({error.strerror or error}: {error.filename})", file=sys.stderr)
        return 2
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    with store:
        try:
            n = export(store, args.format, args.out, where)
        except OSError as error:
            print(f"error: --out {args.out}: cannot write it ({error.strerror or error}); nothing was exported",
                  file=sys.stderr)
            return 2
        except StoreError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    log.info("wrote %d %s rows to %s", n, args.format, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
