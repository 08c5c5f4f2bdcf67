"""End to end: the real app on tiny random models, driven in headless Chromium with Playwright.

Starts `build_ui` on an Engine with the `fake` preset (tests/conftest.py) in this process, fills
a prompt that carries HTML and script, runs two panels (sampling and ARGS), waits for both to
finish, checks the coloured tokens, the plots and the totals, opens the token inspector through
the panel/step inputs and by clicking a token, and checks that nothing the user typed (prompt,
PRS preference) was executed. Also: a second Run supersedes one still streaming, and a preset
whose model cannot load shows the error in the panels while the app keeps working. Uses
Debian's chromium (never a downloaded browser); fails, not skips, without it or Playwright.
Screenshots go to tmp_path and, when set, to $PLAYGROUND_SCREENSHOT_DIR.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PROMPT = 'Review <script>alert("p")</script><img src=x onerror=alert("i")> the film'
PREFERENCE = "<img src=x onerror=alert(1)>Be kind"
MISSING_MODEL = "/nonexistent/tiny-policy"
EXAMPLES = {"fake": "Write a review of the film Glass Harbor.", "broken": "Tell me about Saffron Alley."}
FINISHED_JS = """(ids) => ids.every(id => {
  const s = document.querySelector(`#${id} .status`);
  return s && (s.textContent.includes('stopped:') || s.textContent.includes('error:'));
})"""  # every panel in `ids` shows its final status


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail("Debian's chromium is needed for the browser test (apt-get install chromium); "
                    "it was not found on PATH nor at /usr/bin/chromium")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(fake_preset, tmp_path_factory):
    from backends.engine import Engine
    from backends.sae import SaeConfig, SparseAutoencoder
    from playground.settings import Settings
    from playground.ui import build_ui, page_style

    sae = tmp_path_factory.mktemp("sae") / "sae"  # a random SAE: the panels get feature traces
    SparseAutoencoder(SaeConfig(d_in=32, d_sae=64)).save(sae)
    preset = dataclasses.replace(fake_preset, default_rewards={"sentiment": 1.0}, max_new_tokens=10, sae=str(sae),
                                 example_prompt=EXAMPLES["fake"])
    broken = dataclasses.replace(fake_preset, name="broken", policy=MISSING_MODEL, default_rewards={},
                                 example_prompt=EXAMPLES["broken"], description="a policy that cannot load")
    engine = Engine(device="cpu", presets={"fake": preset, "broken": broken})
    demo = build_ui(engine, Settings(preset="fake"))
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **page_style())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the `playwright` Python package is needed for the browser test (pip install playwright); "
                    "no browser download is needed, Debian's chromium is used")
    executable = _chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _open_page(browser, url: str, size: tuple[int, int], timeout_ms: int):
    """A page on the app's Compare tab, its dialogs recorded in `page.dialogs` (and dismissed)."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.set_default_timeout(timeout_ms)
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_selector("#prompt textarea")
    return page


@pytest.fixture
def page(browser, app_url):
    page = _open_page(browser, app_url, (1600, 1300), 60_000)
    yield page
    page.close()


def _choose(page, elem_id: str, value: str) -> None:
    """Pick `value` in a Gradio dropdown."""
    page.locator(f"#{elem_id} input").click()
    page.locator(f"#{elem_id} li[role='option'][aria-label='{value}']").click()


def _in_view(page, selector: str) -> bool:
    return page.evaluate("""(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
      return r.height > 0 && r.top >= 0 && r.top < window.innerHeight && r.left < window.innerWidth; }""", selector)


def _set_length(page, n: int) -> None:
    page.locator("#max-new input[type=number]").fill(str(n))
    page.locator("#max-new input[type=number]").press("Enter")


# Records each distinct token count of panel 0 and whether its status was final at the time.
WATCH_JS = """() => {
  const el = document.getElementById('tokens-0');
  window.__seen = [];
  const check = () => {
    const n = el.querySelectorAll('.tok').length, s = (el.querySelector('.status') || {}).textContent || '';
    const last = window.__seen[window.__seen.length - 1];
    if (!last || last[0] !== n) window.__seen.push([n, /stopped:|error:/.test(s)]);
  };
  new MutationObserver(check).observe(el, {childList: true, subtree: true, characterData: true});
}"""


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("PLAYGROUND_SCREENSHOT_DIR"):
        target = Path(os.environ["PLAYGROUND_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / name)
    return path


@pytest.mark.browser
def test_compare_two_panels_and_inspect(page, tmp_path):
    page.fill("#prompt textarea", PROMPT)
    page.click("#run")
    page.wait_for_function(FINISHED_JS, arg=["tokens-0", "tokens-1"])

    for i in (0, 1):
        status = page.locator(f"#tokens-{i} .status").inner_text()
        assert "stopped:" in status, status
        assert page.locator(f"#tokens-{i} .tok").count() > 0
        assert "tokens/s" in page.locator(f"#details-{i} table.totals").inner_text()
    coloured = page.locator("#tokens-1 .tok").first.get_attribute("style")
    assert "rgba(" in coloured, coloured  # ARGS panel: each token has a reward, so a colour
    assert "reward" in page.locator("#tokens-1 .tok").first.get_attribute("title")
    page.wait_for_selector("#traces .js-plotly-plot")
    page.wait_for_selector("#reward-kl .js-plotly-plot")
    assert page.locator("#traces .scatterlayer .trace").count() >= 2

    page.fill("#inspect-step input", "0")  # the robust path: panel and step inputs, then Inspect
    page.locator("#inspect-panel input").fill("1")
    page.click("#inspect")
    page.wait_for_function("() => document.querySelector('#inspector').innerText.includes('Panel 1: sampling')")

    page.locator("#tokens-1 .tok").nth(1).click()  # the nicer path: click a token
    page.wait_for_function("() => document.querySelector('#inspector').innerText.includes('Panel 2: args')")
    assert _in_view(page, "#inspector")  # it opens where the user is looking, not below the fold
    assert "step <b>1</b>" in page.locator("#inspector").inner_html()
    assert page.locator("#inspector tr.chosen").count() == 1
    assert page.locator("#inspector table.cands tbody tr").count() >= 2  # ARGS ranked its top-k
    assert page.locator("#inspect-step input").input_value() == "1"
    features = page.locator("#inspector").inner_text()  # the token's sparse-autoencoder features
    assert "Sparse-autoencoder features" in features and "distance" in features
    assert "SAE feature distance" in page.locator("#traces").inner_text()  # and their plot row

    assert PROMPT in page.locator("#summary .ptext").inner_text()  # shown as text ...
    assert page.locator("#summary img").count() == 0  # ... never as markup
    assert page.dialogs == []
    _screenshot(page, tmp_path, "playground.png")


@pytest.mark.browser
def test_preference_text_is_shown_not_executed(page, tmp_path):
    page.fill("#prompt textarea", "Write a review of the film")
    _choose(page, "decoder-1", "prs")
    page.locator("#panel-1 button.label-wrap").first.click()  # open "decoder settings"
    box = page.locator("#p1-prs-preference textarea")
    box.wait_for(state="visible")
    page.wait_for_timeout(300)  # the accordion mounts its controls with their start values: type after that
    box.fill(PREFERENCE)
    page.fill("#p1-prs-n0 input", "2")
    assert box.input_value() == PREFERENCE  # what the run below must send
    page.click("#run")
    page.wait_for_function(FINISHED_JS, arg=["tokens-0", "tokens-1"])
    head = page.locator("#tokens-1 .panel-head").inner_text()
    assert PREFERENCE in head, head
    assert page.locator("#tokens-1 img, #details-1 img").count() == 0
    assert page.locator("#details-1 .rollouts li").count() >= 2  # PRS samples, with their rewards
    assert page.dialogs == []
    _screenshot(page, tmp_path, "playground-prs.png")


@pytest.mark.browser
def test_a_second_run_supersedes_the_first(page, tmp_path):
    page.fill("#prompt textarea", "Write a review of the film")
    page.locator("#max-new input[type=number]").fill("24")
    page.locator("#max-new input[type=number]").press("Enter")
    page.click("#run")
    page.wait_for_function("() => document.querySelectorAll('#tokens-0 .tok').length >= 2")
    page.locator("#seed input").fill("1")
    page.click("#run")  # while the first run streams
    page.wait_for_function(FINISHED_JS + " && ['tokens-0', 'tokens-1'].every(id => "
                           "document.querySelector(`#${id} .panel-head`).textContent.includes('seed 1'))",
                           arg=["tokens-0", "tokens-1"])
    for i in (0, 1):
        assert "stopped: max_new_tokens after 24 tokens" in page.locator(f"#tokens-{i} .status").inner_text()
        assert page.locator(f"#tokens-{i} .tok").count() == 24


@pytest.mark.browser
def test_the_prompt_starts_as_the_presets_example_and_typed_text_survives_a_preset_change(page):
    box = "#prompt textarea"
    assert page.input_value(box) == EXAMPLES["fake"]
    _choose(page, "preset", "broken")
    page.wait_for_function("(want) => document.querySelector('#prompt textarea').value === want",
                           arg=EXAMPLES["broken"])
    page.fill(box, "My own prompt")
    _choose(page, "preset", "fake")
    page.get_by_text("tiny random models").wait_for()  # the preset's update has landed
    assert page.input_value(box) == "My own prompt"


@pytest.mark.browser
def test_a_preset_whose_models_cannot_load_shows_errors_in_the_panels(page):
    page.fill("#prompt textarea", "Write a review of the film")
    _choose(page, "preset", "broken")
    page.click("#run")
    page.wait_for_function(FINISHED_JS, arg=["tokens-0", "tokens-1"])
    for i in (0, 1):
        error = page.locator(f"#tokens-{i} .status.error").inner_text()
        assert MISSING_MODEL in error, error
    assert "could not load" in page.locator("#summary").inner_text()
    _choose(page, "preset", "fake")  # the app keeps working
    page.click("#run")
    page.wait_for_function("() => document.querySelector('#tokens-0 .panel-head').textContent.includes('sampling')"
                           " && document.querySelectorAll('#tokens-0 .status.error').length === 0"
                           " && document.querySelector('#tokens-0 .status')?.textContent.includes('stopped:')")


@pytest.mark.browser
def test_panels_stream_tokens_before_they_finish(page):
    page.fill("#prompt textarea", "Write a review of the film")
    _set_length(page, 60)
    page.evaluate(WATCH_JS)
    page.click("#run")
    page.wait_for_function(FINISHED_JS, arg=["tokens-0", "tokens-1"])
    seen = page.evaluate("window.__seen")
    partial = [n for n, final in seen if 0 < n < 60 and not final]
    assert len(partial) >= 2, seen  # tokens appeared in several steps while the panel was still running
    assert page.locator("#tokens-0 .tok").count() == 60
    page.wait_for_selector("#traces .js-plotly-plot")  # the full figure, once at the end


@pytest.mark.browser
def test_stop_ends_every_panel_and_says_so(page):
    page.fill("#prompt textarea", "Write a review of the film")
    _choose(page, "decoder-1", "tqstar")
    _set_length(page, 100)
    page.click("#run")
    page.wait_for_function("() => document.querySelectorAll('#tokens-1 .tok').length >= 1")
    page.click("#stop")
    page.wait_for_function(FINISHED_JS, arg=["tokens-0", "tokens-1"])
    status = page.locator("#status-1").inner_text()  # each panel's status has a stable id
    assert "stopped: cancelled" in status, status
    assert page.locator("#tokens-1 .tok").count() < 100
    _set_length(page, 8)
    page.click("#run")  # and the next run goes through
    page.wait_for_function("() => document.querySelector('#tokens-1 .status')?.textContent.includes('stopped:')"
                           " && !document.querySelector('#tokens-1 .status').textContent.includes('cancelled')",
                           timeout=120_000)
