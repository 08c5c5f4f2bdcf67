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


def start_app(workdir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """app.py on the embedded zoo, offline, on a free port, with a throwaway SQLite database."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_SERVER_PORT=str(port), PLAYGROUND_PRESET="embedded",
               DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}", GRADIO_ANALYTICS_ENABLED="False")
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                pass
        except OSError:
            time.sleep(0.5)
            continue
        # The page is served before the preset's models load: measure a warm app, once they have.
        text = log_path.read_text(errors="replace")
        if "models of preset" in text or "could not load every model" in text:
            return proc, url
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"app.py did not answer on {url} within 300 s; see {log_path}")


def start_busy(seconds: float) -> subprocess.Popen:
    """A CPU-burning process pinned to core 0, ending by itself after `seconds` at the latest."""
    code = f"import os,time\nos.sched_setaffinity(0,{{0}})\nend=time.time()+{seconds}\nwhile time.time()<end: pass\n"
    return subprocess.Popen([sys.executable, "-c", code])
