"""app.py imports Gradio without its type-stub writer and, run as a script, without IPython; the page is the same.

Each case runs in a fresh interpreter: the hook only acts on Gradio's first import, and this
process imported Gradio long ago.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Builds the page and prints what was skipped, then the page's config (the app's own id and the
# addresses of callables, which differ between any two processes, left out). `{first}` runs first.
DUMP = """
import json, sys
{first}
from playground import gradio_import
gradio_import.skip_unused_gradio_work(hide_ipython=True)  # as `python app.py` does
import app
import gradio.component_meta as meta
from playground.settings import Settings
_, _, demo = app.build_app(Settings.from_env())
config = dict(demo.config)
config.pop("app_id")
print(json.dumps({{"skipped": app.skipped(), "stubs_skipped": gradio_import._stubs_skipped,
                  "ipython_imported": sys.modules.get("IPython") is not None}}))
print(json.dumps(config, sort_keys=True, default=lambda o: getattr(o, "__qualname__", type(o).__name__)))
"""
HAS_IPYTHON = importlib.util.find_spec("IPython") is not None


def run(code: str, tmp_path: Path) -> list[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               DATABASE_URL=f"sqlite:///{tmp_path / 'votes.db'}")
    got = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    assert got.returncode == 0, got.stderr[-2000:]
    return got.stdout.strip().splitlines()


@pytest.mark.slow
def test_the_page_is_the_same_with_gradio_imported_and_the_page_built_as_gradio_does_it(tmp_path):
    hooked, page = run(DUMP.format(first=""), tmp_path)[-2:]
    plain, plain_page = run(DUMP.format(
        first="import contextlib, gradio, playground.ui  # Gradio first: nothing left for the hook\n"
              "playground.ui.server_app_built_at_launch = contextlib.nullcontext  # interim apps built too"),
        tmp_path)[-2:]
    hooked, plain = json.loads(hooked), json.loads(plain)
    # Gradio's metaclass called the no-op for each of its component classes instead of the stub writer.
    assert hooked["stubs_skipped"] > 50 and plain["stubs_skipped"] == 0
    count = f"type-stub writer skipped ({hooked['stubs_skipped']} component classes)"
    assert hooked["skipped"] == ("IPython hidden (not a notebook); " if HAS_IPYTHON else "") + count
    assert plain["skipped"] == "Gradio was imported before the hook: imported as is"
    assert not hooked["ipython_imported"]  # not while the page was built either (Gradio asks "Colab?" per config)
    assert page == plain_page  # every block, its props and every event, as the browser gets them
    assert len(json.loads(page)["components"]) > 300  # the whole page, not an empty one


@pytest.mark.skipif(not HAS_IPYTHON, reason="IPython is not installed here")
def test_in_a_notebook_ipython_is_not_hidden_and_gradio_keeps_its_magic(tmp_path):
    out = run("import IPython\nfrom playground import gradio_import\n"
              "gradio_import.skip_unused_gradio_work(hide_ipython=True)\n"
              "import gradio.ipython_ext as ext\nprint(gradio_import.skipped(), hasattr(ext, 'register_cell_magic'))",
              tmp_path)
    assert out[-1].startswith("type-stub writer skipped (") and out[-1].endswith(" True")


def test_a_page_built_without_interim_server_apps_is_served_by_the_one_launch_builds():
    import gradio as gr
    from gradio.routes import App

    from playground.gradio_import import server_app_built_at_launch

    built = App.create_app
    with server_app_built_at_launch(), gr.Blocks() as demo:
        demo.queue(max_size=3)
        box = gr.Textbox(elem_id="echo")
        box.submit(lambda text: text.upper(), box, box)
    assert demo.app is None and demo.config["components"]  # no interim app; the config is built
    assert App.create_app is built  # restored: other pages are built as Gradio builds them
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1")
    try:
        from gradio_client import Client

        assert demo.app is not None and demo._queue.max_size == 3
        assert Client(demo.local_url, verbose=False).predict("abc", api_name="/lambda") == "ABC"
    finally:
        demo.close()


def test_an_error_while_the_page_is_built_still_restores_gradio():
    import gradio as gr
    from gradio.routes import App

    from playground.gradio_import import server_app_built_at_launch

    built = App.create_app
    with pytest.raises(ValueError, match="bad block"), server_app_built_at_launch(), gr.Blocks():
        raise ValueError("bad block")
    assert App.create_app is built
    with gr.Blocks() as demo:
        gr.Textbox()
    assert demo.app is not None
