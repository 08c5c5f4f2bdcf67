"""End to end: the Arena and the Leaderboard in headless Chromium, on tiny random models and SQLite.

Starts `build_ui` with a Store in a temporary SQLite file and a two-configuration pool (sampling
against ARGS) in this process, then: starts a blind battle, waits for both sides, checks that no
configuration name shows and that keys typed in a text box do not vote, votes with the key 1,
checks the names are revealed and the buttons locked, reloads the page and checks the annotator
id and vote count persisted, refreshes the Leaderboard, finds both configurations and exports the
DPO rows. A typed `<script>` prompt (its battle started with the N key) is shown as text and no
dialog opens. Also a named vote from the Compare tab. Layout: at 1280x800 both answers and the
vote buttons are on screen without scrolling, the guidelines fold after the first vote and stay
folded after a reload; at 390x844 the header's title stays on one line, the page is no wider
than the phone and the ranking table's last column scrolls into view inside its box; bold text
is drawn in one font. A database opened after the page (as app.py does) that cannot be opened is
named in the header and by the Arena, as plain text. Uses Debian's chromium (never a downloaded
browser); fails, not skips, without it or Playwright. Screenshots go to tmp_path and, when set, to
$PLAYGROUND_SCREENSHOT_DIR.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.test_browser import _free_port, _screenshot, browser  # noqa: F401  (the browser fixture)

SCRIPT_PROMPT = "<script>alert(1)</script>"
POOL = {"max_new_tokens": 6, "configs": [{"decoder": "sampling"}, {"decoder": "args", "config": {"w": 3.0}}]}
VOTE_OPEN_JS = "() => !document.querySelector('#arena-vote-left').disabled"


@pytest.fixture(scope="module")
def arena_app(fake_preset, tmp_path_factory):
    from backends.engine import Engine
    from playground.settings import Settings
    from playground.ui import build_ui, page_style
    from storage import Store

    folder = tmp_path_factory.mktemp("arena")
    (folder / "pool.json").write_text(json.dumps(POOL))
    preset = dataclasses.replace(fake_preset, default_rewards={"sentiment": 1.0}, max_new_tokens=6,
                                 prompt_sets=("reviews",))
    engine = Engine(device="cpu", presets={"fake": preset})
    store = Store.open("sqlite:///" + str(folder / "votes.db"))
    demo = build_ui(engine, Settings(preset="fake", arena_pool=str(folder / "pool.json")), store=store)
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **page_style())
    try:
        yield f"http://127.0.0.1:{port}/", store
    finally:
        demo.close()
        store.close()


@pytest.fixture(scope="module")
def context(browser):  # noqa: F811  (one browser profile: localStorage survives reloads and pages)
    ctx = browser.new_context(viewport={"width": 1500, "height": 1200})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, arena_app):
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(arena_app[0])
    page.wait_for_function("() => document.querySelector('#annotator input')?.value.startsWith('anon-')")
    yield page
    page.close()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _battle(page) -> None:
    page.click("#arena-next")
    page.wait_for_function(VOTE_OPEN_JS)


@pytest.mark.browser
def test_a_blind_battle_voted_by_key_persists_and_reaches_the_leaderboard(page, arena_app, tmp_path):
    annotator = page.locator("#annotator input").input_value()
    _tab(page, "Arena")
    assert page.locator("#arena-vote-left").is_disabled()  # nothing to vote on yet
    _battle(page)
    sides = page.locator("#arena-sides").inner_text()
    assert "sampling" not in sides and "args" not in sides  # blind
    assert page.locator("#arena-prompt .arena-ptext").inner_text()  # a prompt of the set

    page.locator("#arena-rationale input").click()
    page.keyboard.type("a1 x4")  # keys typed in a text box are text, not votes
    assert page.locator("#arena-rationale input").input_value() == "a1 x4"
    assert not page.locator("#arena-vote-left").is_disabled()
    page.locator("#arena-title").click()  # focus out of the text box, then vote with the key 1
    page.keyboard.press("1")
    page.wait_for_function("() => document.querySelector('#arena-status').innerText.includes('vote is stored')")
    labels = [page.locator(f"#arena-side-{s} .arena-label").inner_text() for s in "ab"]
    assert sorted(labels) == ["args w=3", "sampling"]  # revealed after the vote, by readable names
    tips = [page.locator(f"#arena-side-{s} .arena-label").get_attribute("title") for s in "ab"]
    assert sorted(t.split("(")[0] for t in tips) == ["args", "sampling"] and all("temperature=" in t for t in tips)
    assert not page.locator("#arena-guide-text").is_visible()  # the first vote folds the guidelines
    assert all(page.locator(f"#arena-vote-{c}").is_disabled() for c in ("left", "right", "tie", "both_bad"))
    page.keyboard.press("2")  # locked: a second key press votes nothing
    assert "1 vote" in page.locator("#arena-progress").inner_text()
    store = arena_app[1]
    vote = store.battle(store.vote_rows()[-1].battle_id).vote
    assert (vote.annotator_id, vote.choice, vote.rationale) == (annotator, "left", "a1 x4")
    assert vote.ms_to_vote is not None and vote.ms_to_vote > 0
    assert store.counts()["votes"] == 1
    _screenshot(page, tmp_path, "arena-voted.png")

    page.reload()
    page.wait_for_function("() => document.querySelector('#annotator input')?.value.startsWith('anon-')")
    assert page.locator("#annotator input").input_value() == annotator  # the same id after a reload
    _tab(page, "Arena")
    page.wait_for_function("() => document.querySelector('#arena-progress').innerText.includes('cast 1 vote')")
    assert not page.locator("#arena-guide-text").is_visible()  # still folded: remembered in this browser

    _tab(page, "Leaderboard")
    page.click("#lb-refresh")
    page.wait_for_function("() => document.querySelectorAll('#lb-table tbody tr').length === 2")
    table = page.locator("#lb-table").inner_text()
    assert "sampling" in table and "args w=3" in table and "(" not in table.split("score")[1].split("votes")[0]
    tips = page.locator("#lb-table td.lb-config").evaluate_all("cells => cells.map(c => c.title)")
    assert sorted(t.split("(")[0] for t in tips) == ["args", "sampling"]  # the full label in the tooltip
    assert page.locator("#lb-table .lb-provisional").count() == 2  # 1 vote each, fewer than 10
    page.wait_for_selector("#lb-wins .js-plotly-plot")
    page.wait_for_selector("#lb-battles .js-plotly-plot")
    assert "left side won" in page.locator("#lb-diagnostics").inner_text()
    page.locator("#lb-exports").get_by_text("Export the votes").click()
    page.click("#export-dpo")
    page.wait_for_function("() => document.querySelector('#lb-status').innerText.includes('Exported')")
    page.wait_for_selector("#export-file a[download]")
    assert "dpo-" in page.locator("#export-file").inner_text()  # in the bounded export folder
    _screenshot(page, tmp_path, "leaderboard.png")


@pytest.mark.browser
def test_a_typed_script_prompt_is_shown_as_text_and_votes_by_click(page, tmp_path):
    _tab(page, "Arena")
    page.fill("#arena-typed textarea", SCRIPT_PROMPT)
    page.locator("#arena-title").click()
    page.keyboard.press("n")  # the key for Next battle
    page.wait_for_function(VOTE_OPEN_JS)
    assert page.locator("#arena-prompt .arena-ptext").inner_text() == SCRIPT_PROMPT
    assert page.locator("#arena-prompt script").count() == 0
    page.fill("#arena-rationale input", "<img src=x onerror=alert(2)>")
    page.click("#arena-vote-both_bad")
    page.wait_for_function("() => document.querySelector('#arena-status').innerText.includes('both bad')")
    assert page.locator("#arena-vote-tie").is_disabled()
    assert page.dialogs == []
    _screenshot(page, tmp_path, "arena-script-prompt.png")


@pytest.mark.browser
def test_a_named_vote_on_two_compare_panels(page, arena_app, tmp_path):
    page.fill("#prompt textarea", "Write a review of the film")
    page.click("#run")
    page.wait_for_function("() => ['tokens-0', 'tokens-1'].every(id => document.querySelector(`#${id} .status`)"
                           "?.textContent.includes('stopped:'))")
    # The run's record (its stored generation ids) arrives in a step after the panels stop; a vote before
    # it says "Run a comparison first" and stores nothing, so click until the vote is stored.
    page.wait_for_function(VOTE_WHEN_RECORDED_JS, polling=500)
    page.click("#compare-vote-right")
    page.wait_for_function("() => document.querySelector('#compare-vote-status').innerText.includes('already')")
    named = [r for r in arena_app[1].vote_rows() if not r.blind]
    assert len(named) == 1 and named[0].choice == "right"
    _screenshot(page, tmp_path, "compare-vote.png")


VOTE_WHEN_RECORDED_JS = """() => {
  if (document.querySelector('#compare-vote-status').innerText.includes('vote is stored')) return true;
  const status = document.querySelector('#compare-vote-status').innerText;
  const last = window.__voteClickAt || 0;  // one click at a time: a reply takes well under 3 s
  if (!status.includes('already') && Date.now() - last > 3000) {
    window.__voteClickAt = Date.now();
    document.querySelector('#compare-vote-right').click();
  }
  return false;
}"""
FOLD_JS = """() => {
  window.scrollTo(0, 0);
  return ['#arena-side-a', '#arena-side-b', '#arena-vote-left', '#arena-vote-right', '#arena-vote-tie',
          '#arena-vote-both_bad'].map(id => {
    const r = document.querySelector(id).getBoundingClientRect();
    return {id, top: r.top, bottom: r.bottom, right: r.right};
  });
}"""


@pytest.mark.browser
def test_on_a_laptop_both_answers_and_the_vote_buttons_fit_one_screen(page, tmp_path):
    page.set_viewport_size({"width": 1280, "height": 800})
    _tab(page, "Arena")
    _battle(page)
    boxes = page.evaluate(FOLD_JS)
    _screenshot(page, tmp_path, "arena-1280x800.png")
    below = [b for b in boxes if not (b["top"] >= 0 and b["bottom"] <= 800 and b["right"] <= 1280)]
    assert below == [], f"outside the 1280x800 screen: {below}"
    page.click("#arena-vote-tie")
    page.wait_for_function("() => document.querySelector('#arena-status').innerText.includes('vote is stored')")


@pytest.mark.browser
def test_on_a_phone_the_header_stacks_and_the_ranking_table_scrolls_inside_its_box(page, tmp_path):
    page.set_viewport_size({"width": 390, "height": 844})
    title = page.evaluate("""() => { const h = document.querySelector('#header h1');
      return {height: h.getBoundingClientRect().height, line: parseFloat(getComputedStyle(h).lineHeight)}; }""")
    assert title["height"] < 1.5 * title["line"]  # one line: the title does not break mid-word
    _tab(page, "Leaderboard")
    page.click("#lb-refresh")
    page.wait_for_function("() => document.querySelectorAll('#lb-table tbody tr').length >= 2")
    seen = page.evaluate("""() => {
      const box = document.querySelector('#lb-table .lb-scroll');
      const last = box.querySelector('th:last-child');
      box.scrollLeft = box.scrollWidth;
      const b = box.getBoundingClientRect(), l = last.getBoundingClientRect();
      return {box_left: b.left, box_right: b.right, left: l.left, right: l.right, text: last.innerText,
              overflow: getComputedStyle(box).overflowX, page: document.documentElement.scrollWidth};
    }""")
    _screenshot(page, tmp_path, "leaderboard-390x844.png")
    assert seen["page"] <= 390  # the page itself does not scroll sideways
    assert seen["overflow"] == "auto" and seen["text"] == "win rate"
    assert seen["box_left"] - 1 <= seen["left"] and seen["right"] <= min(seen["box_right"], 390) + 1


@pytest.mark.browser
def test_bold_text_is_drawn_in_one_font(page):
    """Gradio's default 600-weight file is a subset: bold text mixed two fonts ("**A**rena")."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    for selector in ("#header h1", "#header strong"):
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        assert len(fonts) == 1 and "Bold" in fonts[0]["postScriptName"], (selector, fonts)


@pytest.mark.browser
def test_a_database_opened_after_the_page_that_cannot_be_opened_is_named_in_the_header_and_the_arena(
        browser, fake_preset, tmp_path):  # noqa: F811
    """As app.py runs it: the page is served, then the database is opened; here it cannot be (its
    folder is a file), so the header says why and starting a battle says it again, as plain text."""
    from backends.engine import Engine
    from playground.settings import Settings
    from playground.ui import PendingStore, build_ui, page_style

    (tmp_path / "not-a-folder").write_text("")
    (tmp_path / "pool.json").write_text(json.dumps(POOL))
    preset = dataclasses.replace(fake_preset, default_rewards={"sentiment": 1.0}, max_new_tokens=6,
                                 prompt_sets=("reviews",))
    store = PendingStore("sqlite:///" + str(tmp_path / "not-a-folder" / "votes.db"))
    demo = build_ui(Engine(device="cpu", presets={"fake": preset}),
                    Settings(preset="fake", arena_pool=str(tmp_path / "pool.json")), store=store)
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **page_style())
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.set_default_timeout(30_000)
        page.goto(f"http://127.0.0.1:{port}/")
        store.open()
        page.wait_for_selector("#store-off", state="visible")
        header = page.inner_text("#store-off")
        assert header.startswith("The database could not be opened, so no vote can be stored:"), header
        assert "not-a-folder" in header and "\\" not in header
        _tab(page, "Arena")
        page.click("#arena-next")
        page.wait_for_function("() => document.querySelector('#arena-status')?.textContent.includes('battle')")
        status = page.inner_text("#arena-status")
        assert "could not be opened" in status and "not-a-folder" in status and "\\" not in status, status
        assert page.is_disabled("#arena-vote-left")
        _screenshot(page, tmp_path, "arena-store-off.png")
    finally:
        page.close()
        demo.close()
