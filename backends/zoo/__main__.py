"""Command line of the zoo: `build` the models (resumable) and `check` them.

    python -m backends.zoo build [--out assets/zoo] [--only STAGE[,STAGE]] [--force] [--quick] [--threads N]
    python -m backends.zoo check [--zoo assets/zoo] [--full] [--threads N]

Only argument parsing and reporting; the work is in `build` and `check`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from backends.zoo import ZOO_DIR


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m backends.zoo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the stale stages and rewrite manifest.json")
    build.add_argument("--out", type=Path, default=ZOO_DIR, help=f"output folder (default {ZOO_DIR})")
    build.add_argument("--only", metavar="STAGE[,STAGE]", action="append",
                       help="build just these stages (repeat or comma-separate; their inputs must be built)")
    build.add_argument("--force", action="store_true", help="rebuild even the stages that are up to date")
    build.add_argument("--quick", action="store_true", help="tiny configs, for smoke tests")
    build.add_argument("--threads", type=int, help="CPU threads (default: 1 or all, whichever is faster now)")
    check = commands.add_parser("check", help="verify hashes, load every model, optionally re-measure")
    check.add_argument("--zoo", type=Path, default=ZOO_DIR, help=f"zoo folder (default {ZOO_DIR})")
    check.add_argument("--full", action="store_true", help="recompute every bar on held-out data")
    check.add_argument("--threads", type=int, help="CPU threads for the evaluation (default: torch's)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse(argv)
    if args.command == "build":
        from backends.zoo.build import build

        only = [name for value in args.only for name in value.split(",") if name] if args.only else None
        summary = build(args.out, only=only, force=args.force, quick=args.quick, threads=args.threads)
        logging.info("built %s, skipped %s in %.1f s", summary["built"], summary["skipped"], summary["wall_s"])
        return 0
    from backends.zoo.check import run_check

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    try:
        report, ok = run_check(args.zoo, full=args.full)
    except Exception as error:  # a malformed manifest, an unreadable folder: one line, never a traceback
        first = (str(error).strip().splitlines() or [""])[0]
        print(f"check: FAILED: {type(error).__name__}: {first}")
        return 1
    print(report)
    print("check: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
