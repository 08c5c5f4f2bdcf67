"""The plumbing of bench/browser.py: the app on a free port, a busy core, Chromium, the page instrument.

`start_app` runs `app.py` on the embedded zoo (offline, a throwaway SQLite database) and returns
once it answers and has loaded its models; `start_busy` burns core 0 for a bounded time;
`INSTRUMENT_JS` is installed before any page script and records long tasks, click timestamps, page
readiness and each panel's token and status changes into `window.__bench`. No measuring here:
bench/browser.py reads what it records.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playground.loading import FAILED_MARK, LOADED_MARK

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

# Installed before any page script: long tasks, click timestamps, page readiness, panel observers.
INSTRUMENT_JS = """
window.__bench = {lt: [], clicks: {}, ready: null, panels: []};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__bench.lt.push([e.startTime, e.duration]);
}).observe({type: 'longtask', buffered: true});
document.addEventListener('pointerdown', (e) => {
  const b = e.target.closest && e.target.closest('#run, #stop');
  if (b) window.__bench.clicks[b.id] = e.timeStamp;
}, true);
const readyObs = new MutationObserver(() => {
  const box = document.querySelector('#prompt textarea');
  if (box && !box.disabled) { window.__bench.ready = performance.now(); readyObs.disconnect(); }
});
readyObs.observe(document, {childList: true, subtree: true});
window.__bench.watch = (n) => {
  const b = window.__bench;
  b.panels.forEach((p) => p.obs.disconnect());
  b.panels = [];
  b.clicks = {};
  for (let i = 0; i < n; i++) {
    const el = document.getElementById('tokens-' + i);
    const rec = {changes: [], statuses: [], reset: null, final: null, count: -1, status: null, armed: false};
    const check = () => {
      const now = performance.now();
      const count = el.querySelectorAll('.tok').length;
      if (count !== rec.count) { rec.count = count; if (rec.armed) rec.changes.push([now, count]); }
      const s = (el.querySelector('.status') || {}).textContent || '';
      const fin = /stopped:|error:/.test(s);
      if (rec.armed && !fin && rec.reset === null) rec.reset = now;
      if (rec.armed && fin && rec.reset !== null && rec.final === null) rec.final = now;
      if (s !== rec.status) { rec.status = s; if (rec.armed) rec.statuses.push([now, s]); }
    };
    rec.check = check;
    rec.obs = new MutationObserver(check);
    rec.obs.observe(el, {childList: true, subtree: true, characterData: true});
    check();
    rec.armed = true;
    b.panels.push(rec);
  }
};
window.__bench.result = () => {
  const b = window.__bench;
  return {lt: b.lt, clicks: b.clicks, panels: b.panels.map((p) => ({changes: p.changes, statuses: p.statuses,
          reset: p.reset, final: p.final}))};
};
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(workdir: Path, log_path: Path, argv: list[str] | None = None, wait_models: bool = True,
           timeout_s: float = 300) -> tuple[subprocess.Popen, str, dict[str, float | None]]:
    """`argv` (default: app.py) on the embedded zoo, offline, on a free port, with a throwaway SQLite
    database; returns once "/" answers and, with `wait_models`, once the log says the preset's models
    loaded (or could not). Also the seconds from the spawn to each: {"page": s, "models": s or None}."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_SERVER_PORT=str(port), PLAYGROUND_PRESET="embedded",
               DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}", GRADIO_ANALYTICS_ENABLED="False")
    url, found = f"http://127.0.0.1:{port}/", {"page": None, "models": None}
    with log_path.open("w") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv or [sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    while time.monotonic() - t0 < timeout_s and proc.poll() is None:
        if found["page"] is None:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    found["page"] = time.monotonic() - t0
            except OSError:
                pass
        if found["page"] is not None:
            text = log_path.read_text(errors="replace")
            if not wait_models or LOADED_MARK in text or FAILED_MARK in text:
                found["models"] = time.monotonic() - t0 if LOADED_MARK in text else None
                return proc, url, found
        time.sleep(0.05)
    proc.terminate()
    what = "exited" if proc.poll() is not None else ("loaded no models" if found["page"] else "did not answer")
    raise SystemExit(f"{' '.join(proc.args)} {what} within {timeout_s} s on {url}; see {log_path}")


def start_app(workdir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """app.py on the embedded zoo, once it serves its page and has loaded its models (a warm app)."""
    proc, url, _ = launch(workdir, log_path)
    return proc, url


def start_busy(seconds: float) -> subprocess.Popen:
    """A CPU-burning process pinned to core 0, ending by itself after `seconds` at the latest."""
    code = f"import os,time\nos.sched_setaffinity(0,{{0}})\nend=time.time()+{seconds}\nwhile time.time()<end: pass\n"
    return subprocess.Popen([sys.executable, "-c", code])
