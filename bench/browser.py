"""How the Compare tab feels in a real browser: long tasks, update gaps, Stop and first-token latency.

Starts `app.py` on the embedded zoo (offline, a free port, a temporary SQLite database), drives
Debian's Chromium through Playwright (never a downloaded browser, never a `networkidle` wait) and
measures in the page: a PerformanceObserver collects long tasks, a MutationObserver on each
panel's token container records when its token count and its status change, and clicks are timed
by their input events' own timestamps (so a blocked main thread cannot hide its delay).

    python bench/browser.py                      # three runs of each measure
    python bench/browser.py --runs 1 --busy      # while a bounded process keeps one core busy
    python bench/browser.py --out /tmp/shots     # screenshots at 1280x800 and 390x844 go there

Keys of the final line (median over the runs; the table also shows each run; NaN: a sample that
measured nothing, e.g. a Stop click that landed after the run had ended):
  blocked_share_4p  share of a 4-panel run (sampling, args, tqstar, deal; 64 tokens) in long tasks, from
                    the Run click until the run's figure is drawn (run_s_4p)
  max_gap_s_4p      longest time a panel that is still producing tokens shows no change
  stop_s            Stop click until every panel shows stopped, with a heavy run in flight
  first_token_s     Run click until the first token is on screen (warm app, 2 panels)
  solo_ratio        the sampling panel's own tokens/s (its totals row) next to a second sampling panel
                    over the same next to tqstar; solo_ratio_wall: the same with the rate seen on screen
  inspector_in_view 1 when the inspector is in the 1280x800 viewport after a token click
  page_load_s       DOMContentLoaded until the prompt box is interactive
The Arena's measures come from `measure_arena(page, base_url) -> dict` in bench/browser_arena.py
when that module exists (owned by the Arena's side of the project).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import itertools
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.presets import PRESETS
from bench._browser_app import CHROMIUM, CHROMIUM_ARGS, INSTRUMENT_JS, start_app, start_busy

PROMPT = PRESETS["embedded"].example_prompt  # what the Compare tab starts with
HEAVY = ("sampling", "args", "tqstar", "deal")
TIMEOUT_MS = 240_000

ALL_FINAL = "() => window.__bench.panels.every((p) => p.final !== null)"


# ---- page actions ---------------------------------------------------------------------------------
def choose(page, elem_id: str, value: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.locator(f"#{elem_id} li[role='option'][aria-label='{value}']").click()


def configure(page, decoders: tuple[str, ...], max_new: int = 64) -> None:
    page.locator(f"#panel-count input[value='{len(decoders)}']").check()
    for i, name in enumerate(decoders):
        page.wait_for_selector(f"#decoder-{i} input")
        choose(page, f"decoder-{i}", name)
    page.locator("#max-new input[type=number]").fill(str(max_new))
    page.locator("#max-new input[type=number]").press("Enter")
    page.fill("#prompt textarea", PROMPT)


# The run's interactive figure is on screen (drawn after the panels finished).
FIGURE_SHOWN = """() => { const p = document.querySelector('#traces');
  return p && !p.classList.contains('live-running') && p.querySelector('.js-plotly-plot .scatterlayer') !== null; }"""


def run_and_wait(page, panels: int) -> dict:
    """Click Run, wait until every panel finished and the figure is drawn; the records, with `shown`
    (when the figure was on screen) so that its drawing counts in the run's time."""
    page.evaluate(f"window.__bench.watch({panels})")
    page.click("#run")
    page.wait_for_function(ALL_FINAL, timeout=TIMEOUT_MS)
    page.wait_for_function(FIGURE_SHOWN, timeout=TIMEOUT_MS)
    data = page.evaluate("window.__bench.result()")
    data["shown"] = page.evaluate("performance.now()")
    page.wait_for_timeout(1000)  # a user reads the result before the next click
    return data


# ---- numbers from one run's records -------------------------------------------------------------
def blocked_share(data: dict) -> float:
    start = data["clicks"]["run"]
    end = max(data["shown"], *(p["final"] for p in data["panels"]))
    blocked = sum(max(0.0, min(s + d, end) - max(s, start)) for s, d in data["lt"])
    return blocked / max(end - start, 1e-9)


def max_gap_s(data: dict) -> float:
    """Longest stretch without a change in a panel between its first and its last token."""
    gaps = [0.0]
    for p in data["panels"]:
        times = [t for t, count in p["changes"] if count > 0]
        gaps += [b - a for a, b in itertools.pairwise(times)]
    return max(gaps) / 1e3


def first_token_s(data: dict) -> float:
    start = data["clicks"]["run"]
    firsts = [t for p in data["panels"] for t, count in p["changes"] if count > 0]
    return (min(firsts) - start) / 1e3 if firsts else float("nan")


def wall_rate(panel: dict) -> float:
    """Tokens per second seen on screen, from the first token to the last."""
    times = [(t, c) for t, c in panel["changes"] if c > 0]
    if len(times) < 2 or times[-1][0] <= times[0][0]:
        return float("nan")
    return (times[-1][1] - times[0][1]) / ((times[-1][0] - times[0][0]) / 1e3)


def own_rate(page, panel: int) -> float:
    """The panel's tokens/s as its totals table shows it."""
    text = page.locator(f"#details-{panel} table.totals").inner_text()
    for line in text.splitlines():
        if line.strip().startswith("tokens/s"):
            try:
                return float(line.split()[-1])
            except ValueError:
                return float("nan")
    return float("nan")


# ---- the measures -------------------------------------------------------------------------------
def measure_heavy(page, runs: int) -> dict[str, list[float]]:
    configure(page, HEAVY)
    out: dict[str, list[float]] = {"blocked_share_4p": [], "max_gap_s_4p": [], "run_s_4p": []}
    for _ in range(runs):
        data = run_and_wait(page, 4)
        out["blocked_share_4p"].append(blocked_share(data))
        out["max_gap_s_4p"].append(max_gap_s(data))
        out["run_s_4p"].append((data["shown"] - data["clicks"]["run"]) / 1e3)
    return out


def measure_stop(page, runs: int) -> dict[str, list[float]]:
    """A sample whose Stop click landed after every panel had finished measures nothing: it is NaN."""
    configure(page, HEAVY, max_new=100)
    values = []
    for _ in range(runs):
        page.evaluate("window.__bench.watch(4)")
        page.click("#run")
        page.wait_for_function("() => window.__bench.panels[2].count > 0", timeout=TIMEOUT_MS)  # tqstar is going
        page.click("#stop")
        page.wait_for_function(ALL_FINAL, timeout=TIMEOUT_MS)
        data = page.evaluate("window.__bench.result()")
        stop_s = (max(p["final"] for p in data["panels"]) - data["clicks"]["stop"]) / 1e3
        values.append(stop_s if stop_s >= 0 else float("nan"))
        page.wait_for_timeout(500)
    return {"stop_s": values}


def measure_first_token(page, runs: int) -> dict[str, list[float]]:
    configure(page, ("sampling", "args"))
    run_and_wait(page, 2)  # warm
    return {"first_token_s": [first_token_s(run_and_wait(page, 2)) for _ in range(runs)]}


def measure_solo(page, runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"solo_ratio": [], "solo_ratio_wall": []}
    for _ in range(runs):
        rates = {}
        for neighbour in ("sampling", "tqstar"):
            configure(page, ("sampling", neighbour))
            data = run_and_wait(page, 2)
            rates[neighbour] = (own_rate(page, 0), wall_rate(data["panels"][0]))
        out["solo_ratio"].append(rates["sampling"][0] / rates["tqstar"][0])
        out["solo_ratio_wall"].append(rates["sampling"][1] / rates["tqstar"][1])
    return out


def measure_inspector(page) -> dict[str, list[float]]:
    """Click a token of panel 2 at 1280x800: is the inspector then in the viewport?"""
    configure(page, ("sampling", "args"), max_new=32)
    run_and_wait(page, 2)
    page.locator("#tokens-1 .tok").nth(3).click()
    try:
        page.wait_for_function("() => document.querySelector('#inspector').innerText.includes('Panel 2')",
                               timeout=10_000)
    except Exception:  # not shown is a result, not a crash
        return {"inspector_in_view": [0.0]}
    page.wait_for_timeout(700)  # a smooth scroll may still be under way
    visible = page.evaluate("""() => {
      const r = document.querySelector('#inspector').getBoundingClientRect();
      return r.height > 0 && r.top >= 0 && r.top < window.innerHeight - 40 && r.left < window.innerWidth;
    }""")
    return {"inspector_in_view": [1.0 if visible else 0.0]}


def measure_page_load(browser, url: str, runs: int) -> dict[str, list[float]]:
    values = []
    for _ in range(runs):
        page = new_page(browser, url, (1280, 800))
        values.append(page.evaluate("""() => (window.__bench.ready -
            performance.getEntriesByType('navigation')[0].domContentLoadedEventStart) / 1e3"""))
        page.close()
    return {"page_load_s": values}


def new_page(browser, url: str, size: tuple[int, int]):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.set_default_timeout(60_000)
    page.add_init_script(INSTRUMENT_JS)
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function("() => window.__bench.ready !== null", timeout=120_000)
    return page


def screenshots(browser, url: str, out: Path) -> list[Path]:
    """The Compare tab after a 4-panel run, on a laptop and on a phone."""
    paths = []
    for name, size in (("laptop", (1280, 800)), ("phone", (390, 844))):
        page = new_page(browser, url, size)
        configure(page, HEAVY, max_new=24)
        run_and_wait(page, 4)
        for full in (False, True):
            path = out / f"compare-{name}{'-full' if full else ''}.png"
            page.screenshot(path=str(path), full_page=full)
            paths.append(path)
        page.locator("#tokens-1 .tok").nth(2).click()  # the inspector, where the user clicked
        page.wait_for_function("() => document.querySelector('#inspector').innerText.includes('Panel 2')")
        page.wait_for_timeout(300)
        paths.append(out / f"compare-{name}-inspector.png")
        page.screenshot(path=str(paths[-1]))
        page.locator("#inspector .insp-close").click()
        page.locator("#rewards button.label-wrap, #rewards .label-wrap").first.click()  # the reward sliders
        page.wait_for_timeout(300)
        page.locator("#weight-sentiment").scroll_into_view_if_needed()
        paths.append(out / f"compare-{name}-rewards.png")
        page.screenshot(path=str(paths[-1]))
        page.close()
    return paths


def arena_measure() -> Callable | None:
    """`measure_arena(page, base_url) -> dict` from bench/browser_arena.py, when that module exists."""
    path = Path(__file__).with_name("browser_arena.py")
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("browser_arena", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "measure_arena", None)


def median(values: list[float]) -> float:
    """Of the samples that measured something (NaN: none did)."""
    real = [v for v in values if v == v]
    return statistics.median(real) if real else float("nan")


def report(results: dict[str, list[float]]) -> None:
    print(f"{'measure':<20} {'median':>8}  runs")
    for key, values in results.items():
        shown = ", ".join(f"{v:.3f}" for v in values)
        print(f"{key:<20} {median(values):>8.3f}  {shown}")
    print(" ".join(f"{k}={median(v):.3f}" for k, v in results.items()))


def measure_all(browser, url: str, out: Path, runs: int, want: Callable[[str], bool]) -> dict[str, list[float]]:
    """Every wanted measure in one browser; a measure that fails is reported and the others still run."""
    results: dict[str, list[float]] = {}
    if want("load"):
        results |= measure_page_load(browser, url, runs)
    page = new_page(browser, url, (1280, 800))
    steps = [("first", lambda: measure_first_token(page, runs)), ("heavy", lambda: measure_heavy(page, runs)),
             ("stop", lambda: measure_stop(page, runs)), ("solo", lambda: measure_solo(page, runs)),
             ("inspector", lambda: measure_inspector(page))]
    for name, step in steps:
        if want(name):
            try:
                results |= step()
            except Exception as e:  # report what was measured, say what failed
                print(f"{name}: failed: {type(e).__name__}: {str(e)[:300]}", flush=True)
    page.close()
    arena = arena_measure()
    if arena is not None and want("arena"):
        page = new_page(browser, url, (1280, 800))
        try:
            numbers = arena(page, url, out) if "out" in inspect.signature(arena).parameters else arena(page, url)
            results |= {k: [float(v)] for k, v in numbers.items() if isinstance(v, int | float)}
        except Exception as e:  # report what was measured, say what failed
            print(f"arena: failed: {type(e).__name__}: {str(e)[:300]}", flush=True)
        page.close()
    if want("shots"):
        for path in screenshots(browser, url, out):
            print(f"screenshot: {path}")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each measure (default 3)")
    parser.add_argument("--busy", action="store_true", help="keep one core busy while measuring")
    parser.add_argument("--out", type=Path, default=None, help="folder for screenshots (default: a temporary one)")
    parser.add_argument("--only", default="", help="comma-separated measures to run (heavy,stop,first,solo,"
                                                   "inspector,load,arena,shots); default all")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"Debian's chromium is needed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        out = args.out or Path(tmp) / "shots"
        out.mkdir(parents=True, exist_ok=True)
        app, url = start_app(Path(tmp), out / "app.log")
        busy = start_busy(1800) if args.busy else None
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                results = measure_all(browser, url, out, args.runs, lambda name: not only or name in only)
                browser.close()
        finally:
            if busy is not None:
                busy.kill()
            app.terminate()
            app.wait(30)
        print(f"machine: {os.cpu_count()} cores, busy core: {'yes' if args.busy else 'no'}")
        report(results)


if __name__ == "__main__":
    main()
