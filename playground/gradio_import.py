"""Import Gradio without the two things a served app never uses: about 1.5–3 s of every start here.

Most of `python app.py`'s start is `import gradio` (4–6 s of 5–7 s on the 2-core machine), and
close to half of that import is a development aid: for each of its ~80 component classes, Gradio's
metaclass reads the class's source file, parses it whole and re-renders the class's type stub
(`.pyi`, for editors) next to it (`gradio.component_meta.create_or_modify_pyi`; `gradio.templates`
alone parses its 850-line file once per class, 0.7 s). Nothing that runs reads those stubs, and the
wheel ships them. Where IPython is installed (any Jupyter setup), Gradio also imports it, with
prompt_toolkit and jedi (0.3–0.5 s), for a notebook magic (`%%blocks`) that a script cannot use.

`skip_unused_gradio_work()`, called before Gradio is first imported, installs an import hook that
touches two Gradio modules only: once `gradio.component_meta` has loaded, its stub writer is
replaced by a no-op; while `gradio.ipython_ext` loads, IPython is hidden from it, unless IPython is
already imported (a notebook: then nothing is hidden and the magic works). Components, their
events and the page's config are unchanged (tests/playground/test_gradio_import.py builds the page
both ways and compares). `skipped()` says what was skipped, for the start-up log; a Gradio whose
modules no longer match (another version) is imported as is, and `skipped()` says that instead.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

STUBS, MAGIC = "gradio.component_meta", "gradio.ipython_ext"
_done: list[str] = []  # what the hook did (or could not do), in the order it happened


def _no_stub(*_: Any, **__: Any) -> None:
    """Stands in for `create_or_modify_pyi`: the stubs are for editors, and ship with the wheel."""


def _without_stubs(module: ModuleType) -> None:
    if callable(getattr(module, "create_or_modify_pyi", None)):
        module.create_or_modify_pyi = _no_stub
        _done.append("type-stub writer skipped")
    else:
        _done.append(f"{STUBS} has no create_or_modify_pyi: imported as is")


def _hide_ipython(load: Callable[[ModuleType], None], module: ModuleType) -> None:
    if "IPython" in sys.modules:  # running in IPython or Jupyter: Gradio's magic is wanted
        load(module)
        return
    sys.modules["IPython"] = None  # type: ignore[assignment]  # makes `import IPython...` raise ImportError
    try:
        load(module)
    finally:
        del sys.modules["IPython"]  # importable again for anyone else
    _done.append("IPython magic skipped")


class _Hook(importlib.abc.MetaPathFinder):
    """Finds the two modules as the normal path finder would and wraps how they are executed."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if name not in (STUBS, MAGIC):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None  # not a plain source module: let the other finders load it as usual
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            if name == STUBS:
                load(module)
                _without_stubs(module)
            else:
                _hide_ipython(load, module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def skip_unused_gradio_work() -> None:
    """Install the hook (once). Without effect when Gradio is already imported (`skipped()` says so)."""
    if any(isinstance(f, _Hook) for f in sys.meta_path):
        return
    if STUBS in sys.modules:
        _done.append("Gradio was imported before the hook: imported as is")
        return
    sys.meta_path.insert(0, _Hook())


def skipped() -> str:
    """What the hook did, as one phrase for the log ('' before Gradio is imported)."""
    return "; ".join(_done)
