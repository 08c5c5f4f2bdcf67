"""Import Gradio and build the page without the work a served app never uses: 2–3 s of every start here.

Most of `python app.py`'s start is `import gradio` (4–6 s of 5–7 s on the 2-core machine), and
close to half of that import is a development aid: for each of its ~80 component classes, Gradio's
metaclass reads the class's source file, parses it whole and re-renders the class's type stub
(`.pyi`, for editors) next to it (`gradio.component_meta.create_or_modify_pyi`; `gradio.templates`
alone parses its 850-line file once per class, 0.7 s). Nothing that runs reads those stubs, and the
wheel ships them. Where IPython is installed (any Jupyter setup), Gradio also imports it, with
prompt_toolkit and jedi (0.3–0.6 s), to ask whether it runs in a notebook or on Colab (at import
and again each time it builds the page's config); a script started as `python app.py` does not.

`skip_unused_gradio_work()`, called before Gradio is first imported, installs an import hook that
touches one Gradio module: once `gradio.component_meta` has loaded, its stub writer is replaced by
a no-op. With `hide_ipython` (app.py passes it when run as a script), IPython is made unimportable
for the process, unless it is already imported (a notebook), so every "are we in a notebook?"
check answers no at once, as it would after importing IPython. Components, their events and the
page's config are unchanged (tests/playground/test_gradio_import.py builds the page both ways and
compares). `skipped()` says what was skipped, for the start-up log; a Gradio whose module no longer
matches (another version) is imported as is, and `skipped()` says that instead.

`server_app_built_at_launch()` is for building the page: Gradio builds a server app three times
before `launch` builds the one it serves, and inside this block it does not (0.3–0.5 s).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

STUBS = "gradio.component_meta"
_done: list[str] = []  # what was done (or could not be), in order; the stubs' line is added by `skipped()`
_called = False
_stubs_replaced = False  # the stub writer is `_no_stub`
_stubs_skipped = 0  # component classes whose stub was not rewritten
_building = threading.RLock()  # one page build at a time patches Gradio's App


def _no_stub(*_: Any, **__: Any) -> None:
    """Stands in for `create_or_modify_pyi`: the stubs are for editors, and ship with the wheel."""
    global _stubs_skipped
    _stubs_skipped += 1


def _without_stubs(module: ModuleType) -> None:
    global _stubs_replaced
    if callable(getattr(module, "create_or_modify_pyi", None)):
        module.create_or_modify_pyi = _no_stub
        _stubs_replaced = True
    else:
        _done.append(f"{STUBS} has no create_or_modify_pyi: imported as is")


class _Hook(importlib.abc.MetaPathFinder):
    """Finds `gradio.component_meta` as the normal path finder would, wraps how it is executed, and
    leaves `sys.meta_path` when it is executed."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if name != STUBS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            _done.append(f"{STUBS} is not a plain source module here: imported as is")
            return None  # let the other finders load it as usual
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            if self in sys.meta_path:  # (not while the import system walks it, in find_spec)
                sys.meta_path.remove(self)
            load(module)
            _without_stubs(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def skip_unused_gradio_work(hide_ipython: bool = False) -> None:
    """Install the hook, and with `hide_ipython` make IPython unimportable unless it is already imported
    (or not installed: then there is nothing to hide). Only the first call acts, so a later call
    cannot hide IPython after an earlier one did not; the hook is without effect when Gradio is
    already imported (`skipped()` says so)."""
    global _called
    if _called:
        return
    _called = True
    if hide_ipython and "IPython" not in sys.modules and importlib.util.find_spec("IPython") is not None:
        sys.modules["IPython"] = None  # type: ignore[assignment]  # `import IPython...` raises ImportError
        _done.append("IPython hidden (not a notebook)")
    if STUBS in sys.modules:
        _done.append("Gradio was imported before the hook: imported as is")
        return
    sys.meta_path.insert(0, _Hook())


def skipped() -> str:
    """What was skipped, as one phrase for the log ('' before Gradio is imported)."""
    stubs = [f"type-stub writer skipped ({_stubs_skipped} component classes)"] if _stubs_replaced else []
    return "; ".join([*_done, *stubs])


@contextmanager
def server_app_built_at_launch() -> Iterator[None]:
    """Build a page (`with server_app_built_at_launch(), gr.Blocks() as demo:`) without Gradio's
    interim server apps.

    Gradio builds its FastAPI app (80-odd routes, each analysed by FastAPI and pydantic) and the
    page's config in `Blocks()`, in `queue()` and when the `with` block ends, then builds both
    again in `launch()`, the app that is served: the first three are thrown away (0.3–0.5 s of the
    page's build here). Inside this block they are not built; `demo.app` is None until `launch()`
    (or `gr.mount_gradio_app`) builds the served one. The page's config is still built when the
    `with` block ends (`demo.config`).
    """
    from gradio.routes import App

    with _building:  # a page built meanwhile in another thread waits (launching one does not)
        create_app = App.__dict__["create_app"]
        App.create_app = staticmethod(lambda *_, **__: None)
        try:
            yield
        finally:
            App.create_app = create_app
