"""Name -> class registries: declared with a card, filled where each class is defined, or by plugins.

One registry per role (decoders, rewards). This project *declares* its own names with a card (the
settings class and the words the UI shows, all torch-free) and the module that implements each
(`declare`), so the UI is built from `card(name)` before torch is imported; `get(name)` imports that
module when the class is first needed (under one lock: two threads asking first for two names must
not import the same modules at once), and the module's `register` decorator adds the class. The
declaration is a second place that names each class; a test imports every module of both roles and
checks that the two agree (tests/backends/test_registry.py). Asking for an unknown name raises
`UnknownName`, whose message lists the known names and the closest match. Registration checks that
the class is a subclass of the role's base and remembers where each name came from (this project, or
the installed distribution that provides it); a name registered twice is an error naming both
origins. Other packages add classes through an entry-point group (`load_plugins`), so a researcher's
own decoder appears in the CLI lists, the evaluator and the UI without editing this project
(docs/PLUGINS.md):

    >>> from backends.decoders import DECODERS
    >>> DECODERS.origin("args")
    'decoder-playground'
    >>> DECODERS.card("prs").needs_reward, DECODERS.card("prs").Config.__name__
    (True, 'PrsConfig')
    >>> DECODERS.get("prs").Config is DECODERS.card("prs").Config  # the class received its card
    True
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata as metadata
import pkgutil
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")  # what is registered (a class)
C = TypeVar("C")  # what is declared about it before its module is imported (a card)
PROJECT = "decoder-playground"  # the origin of everything this repository registers itself
_IMPORTING = threading.RLock()  # one lazy import at a time, across every registry


class UnknownName(KeyError):
    """An unknown registry key; `str()` is the full, human-readable message."""

    def __init__(self, kind: str, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        self.message = f"unknown {kind} {name!r}; choose one of: {', '.join(known)}.{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class PluginError(RuntimeError):
    """A plugin that cannot be registered: not the role's base class, a name clash, or an import error."""


class Registry(Generic[T, C]):
    """A named collection of classes; `register` is used as a class decorator.

    `base`: every registered class must subclass it; a "package.module:Class" string is imported when
    the first class is registered (so the registry itself can live in a torch-free module).
    `group`: the entry-point group plugins register through.
    """

    def __init__(self, kind: str, base: type | str | None = None, group: str | None = None):
        self.kind = kind
        self.base = base
        self.group = group
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._declared: dict[str, tuple[str, C]] = {}  # name -> ("module:Class", card)
        self._loaded = False

    def base_class(self) -> type | None:
        if self.base is None or isinstance(self.base, type):
            return self.base
        module, _, qualname = self.base.partition(":")
        return getattr(importlib.import_module(module), qualname)

    def declare(self, name: str, target: str, card: C) -> C:
        """Announce `name`, implemented by `target` ("package.module:Class"), described by `card`.

        The card is a dataclass whose fields the class receives as attributes when its module
        registers it (so `get(name).Config` is `card(name).Config`); until then nothing of the
        module is imported. Returns the card.
        """
        if name in self._declared or name in self._items:
            raise PluginError(f"{self.kind} {name!r} is declared twice")
        self._declared[name] = (target, card)
        return card

    def card(self, name: str) -> C | T:
        """What the UI and the checks read of `name` without importing its implementation: the
        declared card, or, for a plugin (which declares nothing), its class (same attributes)."""
        if name in self._declared:
            return self._declared[name][1]
        return self.get(name)

    def register(self, name: str, origin: str = PROJECT) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            self.add(name, obj, origin)
            return obj

        return decorate

    def add(self, name: str, obj: T, origin: str = PROJECT) -> None:
        """Register `obj` under `name`; refuses a non-subclass of the base and a second owner of a name."""
        base = self.base_class()
        if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
            raise PluginError(f"{self.kind} {name!r} from {origin} is {obj!r}, not a subclass of "
                              f"{base.__module__}.{base.__qualname__}")
        if name in self._items:
            raise PluginError(f"{self.kind} {name!r} is registered twice: by {self._origins[name]} "
                              f"({_where(self._items[name])}) and by {origin} ({_where(obj)})")
        if name in self._declared:
            target, card = self._declared[name]
            if target != f"{obj.__module__}:{obj.__qualname__}":
                raise PluginError(f"{self.kind} {name!r} is registered twice: by {PROJECT} "
                                  f"({target.replace(':', '.')}) and by {origin} ({_where(obj)})")
            for f in dataclasses.fields(card):  # type: ignore[arg-type]
                setattr(obj, f.name, getattr(card, f.name))
        self._items[name] = obj
        self._origins[name] = origin
        obj.name = name  # type: ignore[attr-defined]  # the class knows its registry name (configs, events)

    def load_plugins(self) -> list[str]:
        """Register the classes of every installed distribution's entry points in `group` (once).

        Called by the first `names`, or the first look-up of a name this project does not declare,
        not at import: a plugin imports this project's packages, which are complete by then. (A
        plugin that takes a declared name is reported then too; the app and the CLI list the names
        at start.)

        An entry point is `name = package.module:Class`; its name becomes the registry name and
        its distribution the origin. Returns the names added. A plugin that fails to import or
        does not fit raises `PluginError` naming the entry point and its distribution.
        """
        if self.group is None or self._loaded:
            return []
        self._loaded = True
        added = []
        for ep in metadata.entry_points(group=self.group):
            origin = ep.dist.name if ep.dist is not None else ep.value
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin names itself instead of a bare traceback
                raise PluginError(f"{self.kind} plugin {ep.name!r} ({ep.value}) from {origin} failed to "
                                  f"import: {type(exc).__name__}: {exc}") from exc
            self.add(ep.name, obj, origin)
            added.append(ep.name)
        return added

    def origin(self, name: str) -> str:
        """Where a registered name came from: this project or the distribution of a plugin."""
        if name in self._declared:
            return PROJECT
        self.get(name)
        return self._origins[name]

    def get(self, name: str) -> T:
        """The class of `name`; a declared one's module is imported on the first call."""
        if name in self._declared and name not in self._items:
            module = self._declared[name][0].partition(":")[0]
            with _IMPORTING:
                importlib.import_module(module)  # its `register` decorator adds the class
            if name not in self._items:
                raise PluginError(f"{self.kind} {name!r} is declared in {module}, which did not register it")
        if name not in self._items:
            self.load_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownName(self.kind, name, self.names()) from None

    def import_declared(self) -> None:
        """Import every declared name's module now (what `get` does on a first look-up), so that
        threads started later find them imported. A no-op once done."""
        for name in self._declared:
            if name not in self._items:
                self.get(name)

    def names(self) -> list[str]:
        self.load_plugins()
        return sorted({*self._items, *self._declared})

    def __contains__(self, name: object) -> bool:
        if name in self._declared:
            return True
        self.load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _where(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}"


def import_modules(package: str, path: Sequence[str]) -> list[str]:
    """Import every module of a package, so their `register` decorators run (the test that each
    registers only declared names: tests/backends/test_registry.py)."""
    names = sorted(info.name for info in pkgutil.iter_modules(path))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
