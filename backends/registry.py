"""Name -> class registries, filled by a decorator where each class is defined, or by plugins.

One registry per role (decoders, rewards). Asking for an unknown name raises `UnknownName`,
whose message lists the known names and the closest match. Registration checks that the class
is a subclass of the role's base and remembers where each name came from (this project, or the
installed distribution that provides it); a name registered twice is an error naming both
origins. Other packages add classes through an entry-point group (`load_plugins`), so a
researcher's own decoder appears in the CLI lists, the evaluator and the UI without editing this
project (docs/PLUGINS.md):

    >>> from backends.decoders import DECODERS
    >>> DECODERS.origin("args")
    'decoder-playground'
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as metadata
import pkgutil
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
PROJECT = "decoder-playground"  # the origin of everything this repository registers itself


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


class Registry(Generic[T]):
    """A named collection of classes; `register` is used as a class decorator.

    `base`: every registered class must subclass it (set it with `expect` when the base class is
    defined after the registry). `group`: the entry-point group plugins register through.
    """

    def __init__(self, kind: str, base: type | None = None, group: str | None = None):
        self.kind = kind
        self.base = base
        self.group = group
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loaded = False

    def expect(self, base: type) -> None:
        """Require every class registered from now on to subclass `base`."""
        self.base = base

    def register(self, name: str, origin: str = PROJECT) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            self.add(name, obj, origin)
            return obj

        return decorate

    def add(self, name: str, obj: T, origin: str = PROJECT) -> None:
        """Register `obj` under `name`; refuses a non-subclass of the base and a second owner of a name."""
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise PluginError(f"{self.kind} {name!r} from {origin} is {obj!r}, not a subclass of "
                              f"{self.base.__module__}.{self.base.__qualname__}")
        if name in self._items:
            raise PluginError(f"{self.kind} {name!r} is registered twice: by {self._origins[name]} "
                              f"({_where(self._items[name])}) and by {origin} ({_where(obj)})")
        self._items[name] = obj
        self._origins[name] = origin
        obj.name = name  # type: ignore[attr-defined]  # the class knows its registry name (configs, events)

    def load_plugins(self) -> list[str]:
        """Register the classes of every installed distribution's entry points in `group` (once).

        Called by the first `get`, `names` or `in`, not at import: a plugin imports this project's
        packages, which are complete by the time anyone asks for a name.

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
        self.get(name)
        return self._origins[name]

    def get(self, name: str) -> T:
        self.load_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownName(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        self.load_plugins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self.load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _where(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}"


def import_modules(package: str, path: Sequence[str]) -> list[str]:
    """Import every module of a package, so their `register` decorators run: no list to keep in sync.

    Called as `import_modules(__name__, __path__)` in a role package's `__init__`.
    """
    names = sorted(info.name for info in pkgutil.iter_modules(path))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
