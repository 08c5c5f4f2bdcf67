"""app.py imports Gradio without its type-stub writer and notebook magic; the page is the same.

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
# Builds the page and prints what the hook did, then the page's config (the app's own id and the
# addresses of callables, which differ between any two processes, left out).
DUMP = """
import json, sys
{first}
import app
import gradio.component_meta as meta
from playground import gradio_import
from playground.settings import Settings
_, _, demo = app.build_app(Settings.from_env())
config = dict(demo.config)
config.pop("app_id")
print(json.dumps({{"skipped": app.skipped(), "stubs_skipped": meta.create_or_modify_pyi is gradio_import._no_stub,
                  "ipython": "IPython" in sys.modules}}))
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
def test_the_page_is_the_same_with_gradio_imported_with_and_without_the_hook(tmp_path):
    hooked, page = run(DUMP.format(first=""), tmp_path)[-2:]
    plain, plain_page = run(DUMP.format(first="import gradio  # first: nothing left for the hook"), tmp_path)[-2:]
    hooked, plain = json.loads(hooked), json.loads(plain)
    assert hooked["stubs_skipped"] and not plain["stubs_skipped"]
    assert hooked["skipped"].startswith("type-stub writer skipped"), hooked
    assert plain["skipped"] == "Gradio was imported before the hook: imported as is"
    assert page == plain_page  # every block, its props and every event, as the browser gets them
    assert len(json.loads(page)["components"]) > 300  # the whole page, not an empty one


@pytest.mark.skipif(not HAS_IPYTHON, reason="IPython is not installed here: Gradio does not import it")
def test_a_script_does_not_import_ipython_and_can_still_import_it(tmp_path):
    out = run("import sys, app\nprint(app.skipped(), 'IPython' in sys.modules)\n"
              "import IPython.core.magic, gradio.ipython_ext as ext\nprint(hasattr(ext, 'register_cell_magic'))",
              tmp_path)
    assert out[-2:] == ["type-stub writer skipped; IPython magic skipped False", "False"]


@pytest.mark.skipif(not HAS_IPYTHON, reason="IPython is not installed here")
def test_in_a_notebook_gradio_keeps_its_magic(tmp_path):
    out = run("import IPython, app\nimport gradio.ipython_ext as ext\n"
              "print(app.skipped(), hasattr(ext, 'register_cell_magic'))", tmp_path)
    assert out[-1] == "type-stub writer skipped True"
