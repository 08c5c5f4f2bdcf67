"""Does the Arena fit a laptop screen, and are the Arena and the Leaderboard usable on a phone?

`measure_arena(page, base_url, out)` drives a running app (with a store) in a Playwright page:
at 1280x800 it opens the Arena, plays one battle and measures, in the page, where both answers
and the vote buttons are (`getBoundingClientRect`, scrolled to the top), before and after the
first vote (the guidelines fold away after it), then the Leaderboard; at 390x844 it measures
the header and whether the ranking table's last column can be scrolled into view inside its
box. Screenshots of each state go to `out`. It casts two votes and forgets this browser's
guidelines fold first; the page's viewport is restored at the end. Returns a dict of numbers; `arena_fold_ok` is 1
when both answers and all four vote buttons lie inside the 1280x800 viewport after the first
vote, `arena_fold_first_ok` the same on a first visit (guidelines open).

    python bench/browser_arena.py --out /tmp/arena-shots

starts `python app.py` itself (the embedded zoo, a temporary SQLite DATABASE_URL,
HF_HUB_OFFLINE=1) and drives Debian's chromium (/usr/bin/chromium; never a downloaded
browser, no `networkidle` waits). `bench/browser.py` imports `measure_arena`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LAPTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
VOTES = ("left", "right", "tie", "both_bad")
BATTLE_TIMEOUT_MS = 300_000
# Where the answers and the vote buttons are, in viewport pixels, with the page scrolled to the top.
FOLD_JS = """() => {
  window.scrollTo(0, 0);
  const box = (sel) => { const el = document.querySelector(sel); if (!el) return null;
    const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const ids = ['#arena-side-a', '#arena-side-b', '#arena-vote-left', '#arena-vote-right', '#arena-vote-tie',
               '#arena-vote-both_bad'];
  const boxes = Object.fromEntries(ids.map(id => [id, box(id)]));
  return {boxes, width: window.innerWidth, height: window.innerHeight, header: box('#header-row'),
          guidelines_open: !!document.querySelector('#arena-guidelines')?.querySelector('.open, [open]')};
}"""
# The phone's ranking table: its box, and whether its last header cell can be scrolled into the box.
TABLE_JS = """() => {
  const table = document.querySelector('#lb-table table');
  if (!table) return null;
  const box = table.closest('.lb-scroll') || table.parentElement;
  const last = table.querySelector('th:last-child');
  last.scrollIntoView({block: 'nearest', inline: 'end'});
  const b = box.getBoundingClientRect(), l = last.getBoundingClientRect();
  return {box_left: b.left, box_right: b.right, last_left: l.left, last_right: l.right,
          scroll_width: box.scrollWidth, client_width: box.clientWidth,
          page_width: document.documentElement.scrollWidth, viewport: window.innerWidth};
}"""
HEADER_JS = """() => {
  const h = document.querySelector('#header-row').getBoundingClientRect();
  const title = document.querySelector('#header h1, #header h2');
  const t = title ? title.getBoundingClientRect() : null;
  const lineHeight = title ? parseFloat(getComputedStyle(title).lineHeight) || 0 : 0;
  return {header_bottom: h.bottom, title_height: t ? t.height : 0, title_line_height: lineHeight,
          title_width: t ? t.width : 0, page_width: document.documentElement.scrollWidth};
}"""


def fold(page: Any) -> dict[str, Any]:
    """Where the answers and vote buttons are; `ok` when all lie inside the viewport."""
    seen = page.evaluate(FOLD_JS)
    boxes = seen["boxes"]
    ok = all(b is not None and b["top"] >= 0 and b["bottom"] <= seen["height"] and b["right"] <= seen["width"]
             for b in boxes.values())
    lowest = max((b["bottom"] for b in boxes.values() if b), default=float("nan"))
    return {"ok": int(ok), "lowest_px": round(lowest), "sides_top_px": round(boxes["#arena-side-a"]["top"]),
            "votes_top_px": round(boxes["#arena-vote-left"]["top"]),
            "votes_bottom_px": round(boxes["#arena-vote-left"]["bottom"]),
            "header_bottom_px": round(seen["header"]["bottom"]) if seen["header"] else None}


def _shot(page: Any, out: Path | None, name: str, full: bool = False) -> None:
    if out is not None:
        page.screenshot(path=str(out / name), full_page=full)


def _open_tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_selector({"Arena": "#arena-next", "Leaderboard": "#lb-refresh"}[name])
    page.evaluate("() => window.scrollTo(0, 0)")


def _battle(page: Any) -> None:
    page.click("#arena-next")
    page.wait_for_function("() => !document.querySelector('#arena-vote-left').disabled", timeout=BATTLE_TIMEOUT_MS)


def measure_arena(page: Any, base_url: str, out: Path | None = None) -> dict[str, Any]:
    """Arena and Leaderboard layout numbers (see the module docstring); screenshots to `out` when given."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    try:
        return _measure(page, base_url, out)
    finally:
        if before:
            page.set_viewport_size(before)  # the caller's page as it was given


def _reload_and_battle(page: Any) -> dict[str, Any]:
    """Reload, open the Arena, draw a battle; where the guidelines and the vote buttons sit."""
    page.reload()
    page.get_by_role("tab", name="Arena").wait_for()
    _open_tab(page, "Arena")
    _battle(page)
    return fold(page)


def _vote(page: Any, side: str) -> None:
    page.click(f"#arena-vote-{side}")
    page.wait_for_function("() => document.querySelector('#arena-status').innerText.includes('vote is stored')")


def _measure(page: Any, base_url: str, out: Path | None) -> dict[str, Any]:
    page.set_viewport_size(LAPTOP)
    page.goto(base_url)
    page.evaluate("() => { try { localStorage.removeItem('decoder-playground-guidelines'); } catch (e) {} }")
    first = _reload_and_battle(page)
    _shot(page, out, "arena-1280-first.png")
    _vote(page, "left")
    _shot(page, out, "arena-1280-voted.png")
    again = _reload_and_battle(page)  # a returning annotator: the guidelines stay folded
    _shot(page, out, "arena-1280-second.png")
    _vote(page, "right")
    _open_tab(page, "Leaderboard")
    page.click("#lb-refresh")
    page.wait_for_function("() => document.querySelectorAll('#lb-table tbody tr').length >= 2")
    page.wait_for_selector("#lb-wins .js-plotly-plot")
    _shot(page, out, "leaderboard-1280.png", full=True)
    phone = measure_phone(page, out)
    result = {"arena_fold_ok": again["ok"], "arena_fold_first_ok": first["ok"]}
    result |= {f"first_{k}": v for k, v in first.items() if k != "ok"}
    result |= {f"second_{k}": v for k, v in again.items() if k != "ok"}
    return result | phone


def measure_phone(page: Any, out: Path | None) -> dict[str, Any]:
    """At 390x844: the header's height, the title's lines, and the ranking table's last column."""
    page.set_viewport_size(PHONE)
    page.evaluate("() => window.scrollTo(0, 0)")
    head = page.evaluate(HEADER_JS)
    _shot(page, out, "leaderboard-390.png", full=True)
    _open_tab(page, "Arena")
    _shot(page, out, "arena-390.png")
    _shot(page, out, "arena-390-full.png", full=True)
    _open_tab(page, "Leaderboard")
    table = page.evaluate(TABLE_JS)
    _shot(page, out, "leaderboard-390-table-scrolled.png")
    lines = round(head["title_height"] / head["title_line_height"]) if head["title_line_height"] else None
    reachable = bool(table) and table["last_right"] <= min(table["box_right"], table["viewport"]) + 1 \
        and table["last_left"] >= 0
    return {"phone_header_bottom_px": round(head["header_bottom"]), "phone_title_lines": lines,
            "phone_page_width_px": head["page_width"], "phone_table_last_col_reachable": int(reachable),
            "phone_table": table}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(folder: Path, port: int) -> subprocess.Popen:
    """`python app.py` on the embedded zoo with votes in a fresh SQLite file; returns once it answers."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "DATABASE_URL": "sqlite:///" + str(folder / "votes.db"), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1"}
    log = (folder / "app.log").open("w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}; see {folder / 'app.log'}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise RuntimeError(f"the app did not answer on port {port} in 300 s; see {folder / 'app.log'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for the screenshots")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-arena-") as tmp:
        port = _free_port()
        proc = start_app(Path(tmp), port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.set_default_timeout(60_000)
                result = measure_arena(page, f"http://127.0.0.1:{port}/", args.out)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(json.dumps(result, indent=1))
    print(" ".join(f"{k}={v}" for k, v in result.items() if not isinstance(v, dict)))


if __name__ == "__main__":
    main()
