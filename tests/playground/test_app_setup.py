"""Settings from the environment, ZeroGPU wrapping, model warm-up reporting, the page's structure."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import types
import urllib.request
from pathlib import Path

import gradio as gr
import pytest

from playground.compare import CompareHooks, finish_outputs, live_outputs, read_form
from playground.gpu import on_accelerator
from playground.loading import warm_at_startup
from playground.settings import Settings
from playground.ui import TABS, TabSpec, build_ui, launch_kwargs
from tests.playground.fakes import FakeEngine, PresetEngine, scripts, view


def test_settings_from_env_locally_and_on_a_space():
    local = Settings.from_env({})
    assert (local.preset, local.server_name, local.server_port, local.concurrency) == ("embedded", "127.0.0.1",
                                                                                        7860, 1)
    space = Settings.from_env({"SPACE_ID": "me/app", "PORT": "8080", "PLAYGROUND_PRESET": "gpt2-imdb",
                               "DATABASE_URL": "postgresql://x", "PLAYGROUND_CONCURRENCY": "2"})
    assert (space.server_name, space.server_port, space.preset) == ("0.0.0.0", 8080, "gpt2-imdb")
    assert space.database_url == "postgresql://x" and space.concurrency == 2
    assert local.arena_pool is None and Settings.from_env({"PLAYGROUND_ARENA_POOL": "p.json"}).arena_pool == "p.json"


def test_the_app_builds_its_page_without_importing_torch_or_sqlalchemy(tmp_path):
    """Everything the page needs (presets, decoder and reward cards, every tab) is built before the
    page is served; torch and transformers (about 2 s on a small CPU) only come with the first
    model load, after it, and SQLAlchemy and the migrations (0.5 s) with the database's open, also
    after it. No decoder's or reward's implementation is imported before it is first asked for
    (only the torch-free `configs` and `request` modules of those packages)."""
    code = ("import sys, app\n"
            "from playground.settings import Settings\n"
            "engine, store, demo = app.build_app(Settings.from_env())\n"
            "roles = ('backends.decoders.', 'backends.rewards.')\n"
            "print(sorted(m for m in sys.modules if m in ('torch', 'transformers', 'sqlalchemy', 'alembic')\n"
            "             or m.startswith(roles)\n"
            "             and m.rpartition('.')[2] not in ('configs', 'request')))\n"
            "from backends.decoders import DECODERS\n"
            "print(DECODERS.get('args').__module__, DECODERS.get('args').summary == DECODERS.card('args').summary)")
    env = dict(os.environ, HF_HUB_OFFLINE="1", DATABASE_URL=f"sqlite:///{tmp_path / 'votes.db'}",
               GRADIO_ANALYTICS_ENABLED="False")
    got = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, timeout=120, env=env)
    assert got.returncode == 0, got.stderr[-2000:]
    before, after = got.stdout.strip().splitlines()[-2:]
    assert before == "[]"
    assert after == "backends.decoders.args True"


def test_app_py_serves_its_page_before_it_loads_the_presets_models(tmp_path):
    """`python app.py` on the zoo: the page answers, and the log says the database was opened and the models
    loaded after the server started."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_SERVER_PORT=str(port), PLAYGROUND_PRESET="embedded",
               DATABASE_URL=f"sqlite:///{tmp_path / 'votes.db'}", GRADIO_ANALYTICS_ENABLED="False")
    log = tmp_path / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=Path(__file__).resolve().parents[2], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline, served = time.monotonic() + 180, False
        while time.monotonic() < deadline and proc.poll() is None and "models of preset" not in log.read_text():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    served = served or page.status == 200
            except OSError:
                pass
            time.sleep(0.2)
        text = log.read_text()
        assert proc.poll() is None, text[-2000:]
        assert served and "models of preset 'embedded' loaded" in text, text[-2000:]
        assert text.index("Running on local URL") < text.index("models of preset 'embedded' loaded"), text[-2000:]
        assert text.index("Running on local URL") < text.index("votes are stored in"), text[-2000:]  # opened after
        assert "type-stub writer skipped (" in text.split("Running on local URL")[0], text[-2000:]  # gradio_import
    finally:
        proc.terminate()
        proc.wait(30)


def test_app_py_stops_with_one_line_when_the_device_it_is_told_to_use_is_missing(tmp_path):
    """The device is resolved after the page is served (torch comes then); a PLAYGROUND_DEVICE this
    machine lacks still stops the app, with a message naming the setting, not a traceback."""
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                           capture_output=True, text=True, timeout=120)
    if probe.stdout.strip() != "False":
        pytest.skip("this machine has CUDA")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_SERVER_PORT=str(port), PLAYGROUND_DEVICE="cuda",
               DATABASE_URL=f"sqlite:///{tmp_path / 'votes.db'}", GRADIO_ANALYTICS_ENABLED="False")
    got = subprocess.run([sys.executable, "app.py"], cwd=Path(__file__).resolve().parents[2], env=env,
                         capture_output=True, text=True, timeout=120)
    assert got.returncode == 1
    assert got.stderr.strip().splitlines()[-1] == ("PLAYGROUND_DEVICE: device='cuda': CUDA is not available on "
                                                   "this machine"), got.stderr[-2000:]
    assert "Traceback" not in got.stderr


def test_on_accelerator_is_a_no_op_without_spaces(monkeypatch):
    monkeypatch.setitem(sys.modules, "spaces", None)  # import spaces -> ImportError

    def fn():
        return 1

    assert on_accelerator(fn) is fn


def test_on_accelerator_uses_spaces_gpu_when_present(monkeypatch):
    calls = []

    def gpu(duration=None):
        calls.append(duration)
        return lambda f: ("wrapped", f)

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))

    def fn():
        return 1

    assert on_accelerator(fn, 60) == ("wrapped", fn) and calls == [60]


def test_warm_at_startup_logs_percentages_and_survives_a_missing_model(caplog):
    caplog.set_level(logging.INFO, logger="playground.loading")
    assert warm_at_startup(FakeEngine(scripts()), "fake")
    assert "[  0%] loading policy model tiny" in caplog.text and "[100%] ready" in caplog.text
    assert not warm_at_startup(FakeEngine(scripts(), warm_error=OSError("no zoo")), "embedded")
    assert "no zoo" in caplog.text


def test_build_ui_composes_tabs_and_leaves_hooks_for_votes():
    built, extra = [], []
    hooks = CompareHooks(below_panels=[lambda tab: built.append(gr.Button("Vote A", elem_id="vote-a"))])
    tabs = (*TABS, TabSpec("Extra", lambda services: extra.append(services), "extra"))
    demo = build_ui(PresetEngine(scripts()), Settings(preset="fake", concurrency=1, queue_size=7), tabs=tabs,
                    compare_hooks=hooks)
    ids = {b.elem_id for b in demo.blocks.values()}
    assert {"tab-compare", "tab-arena", "tab-leaderboard", "tab-extra", "arena-off", "lb-off", "prompt", "run",
            "stop", "panel-count", "inspect", "traces", "reward-kl",
            "vote-a", "weight-sentiment", "p1-prs-preference", "tokens-3"} <= ids
    assert len(built) == 1 and extra[0].settings.preset == "fake"
    run = next(fn for fn in demo.fns.values() if fn.concurrency_id == "accelerator")
    assert run.concurrency_limit == 1
    assert (demo._queue.default_concurrency_limit, demo._queue.max_size) == (1, 7)  # set before the blocks
    assert launch_kwargs(Settings())["css"]


def test_a_run_streams_small_payloads_and_sends_the_figures_once_at_the_end():
    import json

    from playground.live import LiveRun

    demo_tab = {}
    hooks = CompareHooks(below_panels=[lambda tab: demo_tab.setdefault("tab", tab)])
    build_ui(PresetEngine(scripts()), Settings(preset="fake"), compare_hooks=hooks)
    tab = demo_tab["tab"]
    live = LiveRun()
    streaming = live_outputs(tab, live, [view([1, 2], done=False), view([1, 3], done=False)], "")
    assert set(streaming) == set(tab.run_outputs()) == {tab.live, tab.views}  # no figures while streaming
    views = [view([1, 2]), view([1, 3])]
    payload = json.loads(live_outputs(tab, live, views, "", final=True)[tab.live])
    assert payload["final"] and 'data-step="1"' in payload["panels"][1]["tokens"]
    records = []
    done = finish_outputs(tab, views, CompareHooks(on_finished=lambda v: records.append(v) or "stored"))
    assert set(done) == set(tab.finish_outputs()) and done[tab.record] == "stored" and records == [views]
    assert done[tab.traces].data  # the figures, drawn once at the end


def test_pick_example_fills_the_prompt_and_its_keywords():
    import json

    from playground.compare import pick_example
    from playground.prompts import examples

    item = {"prompt": "Use dog and park.", "keywords": ["dog", "park"]}
    assert pick_example(json.dumps(item)) == ("Use dog and park.", "dog, park")
    assert pick_example(json.dumps({"prompt": "Hi"})) == ("Hi", "")
    label, value = examples(("keywords",), per_set=1)[0]
    assert label.startswith("[keywords] ") and json.loads(value)["prompt"]


def test_preset_files_add_presets_and_a_bad_one_is_skipped_with_its_error(tmp_path, caplog):
    import json

    from playground.loading import load_presets

    good = tmp_path / "preset.json"
    good.write_text(json.dumps({"name": "embedded+run", "policy": "zoo:tiny-sft", "baseline": str(tmp_path)}))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    settings = Settings.from_env({"PLAYGROUND_PRESET_FILES": f"{good}, {bad}"})
    assert settings.preset_files == (str(good), str(bad))
    with caplog.at_level(logging.ERROR):
        presets = load_presets(settings.preset_files)
    assert presets["embedded+run"].baseline == str(tmp_path) and "embedded" in presets
    assert str(bad) in caplog.text and "cannot read it as JSON" in caplog.text


def test_the_form_gathered_in_the_page_is_read_through_each_widget():
    import pytest

    demo_tab = {}
    hooks = CompareHooks(below_panels=[lambda tab: demo_tab.setdefault("tab", tab)])
    build_ui(PresetEngine(scripts()), Settings(preset="fake"), compare_hooks=hooks)
    tab = demo_tab["tab"]
    widgets = tab.form_inputs()
    values = [w.value for w in widgets]
    values[widgets.index(tab.seed)] = 7.0  # the page sends numbers as floats
    data = read_form(tab, values)
    assert data[tab.seed] == 7 and isinstance(data[tab.seed], int) and data[tab.prompt] == tab.prompt.value
    with pytest.raises(gr.Error, match="form: expected"):
        read_form(tab, values[:-1])
