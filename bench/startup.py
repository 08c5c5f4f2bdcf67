"""How long `python app.py` takes to serve its page and to load its models, beside a bare Gradio app.

    python bench/startup.py                 # 3 starts of each, the embedded zoo, offline
    python bench/startup.py --runs 5 --cpu 0

Each start is a fresh process on a free port with a throwaway SQLite database (a "warm" start: the
zoo is built and the OS file cache is warm after the first run, which is discarded). Measured from
spawning the process: `page` is the first HTTP 200 on "/" (the UI is served and usable: prompts
can be typed, scenarios chosen), `models` is when the app logs that the preset's models are loaded
(a run started before that waits for them, saying so). `bare` is a Gradio app with one textbox:
what importing and launching Gradio costs on this machine; `bare, light import` is the same app
importing Gradio as app.py does (without its type-stub writer, and with IPython hidden:
playground/gradio_import.py), so the app's page minus it is what the app itself adds. The bar
(issue 14) is the app's `page` ≤ 5 s. `--against ../old` also starts an earlier checkout's app.py in every round
(interleaved, so a machine whose speed drifts slows both alike). Then `python -X importtime -c
"import app"` splits the import of the app into the packages it pulls in (cumulative seconds of the
first import of each: what is left to move out of the page's path).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._browser_app import ROOT, launch

BARE = "import gradio as gr\nwith gr.Blocks() as demo:\n    gr.Textbox()\ndemo.launch()\n"
LIGHT = (f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
         f"from playground.gradio_import import skip_unused_gradio_work\nskip_unused_gradio_work(hide_ipython=True)\n"
         f"{BARE}")
PACKAGES = ("gradio", "torch", "transformers", "plotly", "sqlalchemy", "numpy", "backends", "playground", "storage")


def start_once(argv: list[str], workdir: Path, wait_models: bool) -> dict[str, float | None]:
    """Seconds from spawning `argv` to its page (and, with `wait_models`, to its models loaded); then stop it."""
    proc, _, found = launch(workdir, workdir / "start.log", argv, wait_models=wait_models, timeout_s=120)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    return found


def import_split(pin: list[str]) -> dict[str, float]:
    """Cumulative seconds of the first import of each of PACKAGES (and `app`) under `import app`."""
    got = subprocess.run([*pin, sys.executable, "-X", "importtime", "-c", "import app"], cwd=ROOT, capture_output=True,
                         text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"), check=True)
    split: dict[str, float] = {}
    for line in got.stderr.splitlines():  # "import time: self | cumulative | name", innermost first
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].strip()
            if name in (*PACKAGES, "app") and name not in split:
                split[name] = int(parts[1]) / 1e6
    return split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured starts of each (after one discarded)")
    parser.add_argument("--cpu", type=int, default=None, help="pin the started processes to this core")
    parser.add_argument("--against", type=Path, default=None,
                        help="another checkout (a git worktree of an earlier commit): its app.py is started in "
                             "each round too, between this one's and the bare app")
    parser.add_argument("--page-only", action="store_true", help="do not wait for the models (faster rounds)")
    args = parser.parse_args()
    if args.against is not None and not (args.against / "app.py").is_file():
        parser.error(f"--against {args.against}: no app.py there")
    with tempfile.TemporaryDirectory() as tmp:
        bare, light = Path(tmp) / "bare.py", Path(tmp) / "light.py"
        bare.write_text(BARE)
        light.write_text(LIGHT)
        pin = ["taskset", "-c", str(args.cpu)] if args.cpu is not None else []
        runs = {"app": ([*pin, sys.executable, str(ROOT / "app.py")], not args.page_only)}
        if args.against is not None:  # rounds interleave the two, so the machine's drift hits both alike
            runs[f"app at {args.against}"] = ([*pin, sys.executable, str(args.against / "app.py")], not args.page_only)
        runs["bare"] = ([*pin, sys.executable, str(bare)], False)
        runs["bare, light import"] = ([*pin, sys.executable, str(light)], False)
        results: dict[str, list[dict]] = {name: [] for name in runs}
        for i in range(args.runs + 1):
            for name, (argv, wait_models) in runs.items():
                got = start_once(argv, Path(tmp), wait_models)
                if i:  # the first start of each warms the file cache
                    results[name].append(got)
                print(f"{'warm-up' if not i else f'run {i}'} {name}: " + ", ".join(
                    f"{k} {v:.2f} s" for k, v in got.items() if v is not None), flush=True)
    print("\n| process | page served (s) | models loaded (s) |\n|---|---|---|")
    for name, rows in results.items():
        cells = []
        for key in ("page", "models"):
            values = [r[key] for r in rows if r[key] is not None]
            cells.append(f"median {statistics.median(values):.2f} ({', '.join(f'{v:.2f}' for v in values)})"
                         if values else "–")
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    fastest = {name: min((r["page"] for r in rows if r["page"] is not None), default=None)
               for name, rows in results.items()}
    print("\nEach page minus a bare app's in the same round (this machine's speed drifts between runs, so a "
          "difference within a round is steadier than a time):")
    for name in (n for n in results if not n.startswith("bare")):
        for floor in ("bare", "bare, light import"):
            paired = [a["page"] - b["page"] for a, b in zip(results[name], results[floor], strict=True)
                      if a["page"] is not None and b["page"] is not None]
            if paired:
                print(f"- {name} minus {floor}: median {statistics.median(paired):.2f} s "
                      f"({', '.join(f'{v:.2f}' for v in paired)}); fastest page {fastest[name]:.2f} s "
                      f"({floor} {fastest[floor]:.2f} s)")
    split = import_split(pin)
    print("\n`import app`, cumulative seconds of each package's first import (nested imports count in the "
          "first package that pulls them in):")
    print(", ".join(f"{name} {split[name]:.2f}" for name in ("app", *PACKAGES) if name in split))


if __name__ == "__main__":
    main()
