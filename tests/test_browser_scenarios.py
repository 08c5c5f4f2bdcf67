"""End to end on the embedded zoo: each Compare scenario fills the form in one click and runs to the end.

Uses the real `embedded` preset (assets/zoo), Debian's chromium and the fixtures of
tests/test_browser.py. Each scenario is applied by its button, checked in the form (prompt,
panel count, decoders, a per-panel override) and run at 8 new tokens so the test stays short.
Screenshots of the scenario row at 1280x800 and 390x844 go to tmp_path and, when set, to
$PLAYGROUND_SCREENSHOT_DIR.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM_ARGS, _chromium, _free_port, _open_page, _screenshot, _set_length

pytestmark = pytest.mark.browser
# every panel of this run names its decoder and shows its final status
DONE_JS = """({ids, decs}) => ids.every((id, i) => {
  const head = document.querySelector(`#${id} .panel-head`), s = document.querySelector(`#${id} .status`);
  return head && head.textContent.includes(decs[i]) && s && /stopped:|error:/.test(s.textContent);
})"""


@pytest.fixture(scope="module")
def app_url():
    from backends.engine import Engine
    from backends.presets import PRESETS
    from playground.settings import Settings
    from playground.ui import build_ui, load_css

    engine = Engine(device="cpu", presets={"embedded": PRESETS["embedded"]})
    demo = build_ui(engine, Settings(preset="embedded"))
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, css=load_css())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield _open_page(browser, app_url, (1280, 800), 120_000)
        browser.close()


def _visible_panels(page) -> int:
    return page.evaluate("() => [0, 1, 2, 3].filter(i => document.getElementById('panel-' + i)?.offsetParent)"
                         ".length")


def test_each_scenario_fills_the_form_and_runs(page, tmp_path):
    from playground.scenarios import load_scenarios

    scenarios = load_scenarios()
    _screenshot(page, tmp_path, "scenarios-1280.png")
    for scenario in scenarios:
        page.click(f"#scenario-{scenario.name}")
        page.wait_for_function("(t) => document.querySelector('#scenario-note').innerText.includes(t)",
                               arg=scenario.title)
        assert page.locator("#prompt textarea").input_value() == scenario.prompt
        n = len(scenario.panels)
        page.wait_for_function("(n) => [0, 1, 2, 3].filter(i => document.getElementById('panel-' + i)?.offsetParent)"
                               ".length === n", arg=n)
        for i, panel in enumerate(scenario.panels):
            assert page.locator(f"#decoder-{i} input").input_value() == panel.decoder
            assert page.locator(f"#override-{i} input").is_checked() == (panel.weights is not None)
        _set_length(page, 8)
        page.click("#run")
        ids = [f"tokens-{i}" for i in range(n)]
        page.wait_for_function(DONE_JS, arg={"ids": ids, "decs": [p.decoder for p in scenario.panels]})
        for i in range(n):
            status = page.locator(f"#tokens-{i} .status").inner_text()
            assert "stopped:" in status and "error" not in status, (scenario.name, i, status)
    assert page.dialogs == []


def test_the_scenario_row_and_the_model_notes_fit_a_phone(page, tmp_path):
    page.set_viewport_size({"width": 390, "height": 844})
    try:  # the page is shared by this module's tests: the next one runs at laptop size whatever happens here
        page.click("#scenario-two-objectives")
        page.wait_for_function("() => document.querySelector('#scenario-note').innerText.includes('What to look for')")
        page.click("#about-model button.label-wrap")
        # the accordion opens after the click returns: wait for its text, then read it
        page.wait_for_function("() => document.querySelector('#about-model').innerText.includes('general chat')")
        assert "does *not*" not in page.locator("#about-model").inner_text()  # rendered, not raw markdown
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, overflow
        _screenshot(page, tmp_path, "scenarios-390.png")
    finally:
        page.set_viewport_size({"width": 1280, "height": 800})


def test_a_small_sweep_draws_its_points_and_offers_results_json(page, tmp_path):
    import json

    page.click("#sweep button.label-wrap")
    page.fill("#sweep-values textarea", "0, lots")
    page.click("#sweep-run")
    page.wait_for_function("() => document.body.innerText.includes(\"values: 'lots' is not a number\")")
    page.fill("#sweep-values textarea", "0, 3")
    page.fill("#sweep-prompts textarea", "Write a review of the film The Final Kingdom.")
    page.fill("#sweep-max-new input", "8")
    page.click("#sweep-run")
    page.wait_for_function("() => document.querySelector('#sweep-progress').innerText.includes('done: 2 of 2')")
    for i in range(3):
        page.wait_for_selector(f"#sweep-plot-{i} .js-plotly-plot")
        assert page.locator(f"#sweep-plot-{i} .scatterlayer .trace").count() == 1  # one curve: one decoder
    with page.expect_download() as download:
        page.locator("#sweep-download a").first.click()
    res = json.loads(Path(download.value.path()).read_text())
    assert set(res) == {"run", "notes", "decoders", "sweeps", "comparisons"}
    assert res["run"]["complete"] and res["run"]["generations"] == 2
    (sweep,) = res["sweeps"]
    assert (sweep["decoder"], sweep["key"], [p["value"] for p in sweep["points"]]) == ("args", "w", ["0", "3"])
    _screenshot(page, tmp_path, "sweep-1280.png")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    _screenshot(page, tmp_path, "sweep-390.png")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_stop_cancels_a_sweep(page):
    if not page.locator("#sweep-values textarea").is_visible():
        page.click("#sweep button.label-wrap")
    page.fill("#sweep-values textarea", "0, 1, 2, 3")
    page.fill("#sweep-max-new input", "48")
    page.click("#sweep-run")
    page.wait_for_function("() => document.querySelector('#sweep-progress').innerText.includes('running')")
    page.click("#sweep-stop")
    page.wait_for_function("() => document.querySelector('#sweep-progress').innerText.includes('stopped')")
    page.wait_for_timeout(1500)  # a cancelled run sends nothing more
    assert "stopped" in page.locator("#sweep-progress").inner_text()
