"""The registries: base-class checks, origins, name clashes, and plugins found through entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.registry import PROJECT, PluginError, Registry, UnknownName, import_modules


class Base:
    pass


@dataclass(frozen=True)
class Card:
    summary: str


CURRENT: Registry | None = None  # the registry a test's throwaway module registers into


def _dist(root: Path, dist: str, package: str, group: str, entries: dict[str, str], source: str) -> None:
    """A minimal installed distribution in `root`: a package plus a .dist-info with entry points."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}\n")


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("plug_")]:
        del sys.modules[name]


def test_register_checks_the_base_class_and_remembers_the_origin():
    reg: Registry[type[Base]] = Registry("thing", base=Base)

    @reg.register("good")
    class Good(Base):
        pass

    assert reg.get("good") is Good and Good.name == "good" and reg.origin("good") == PROJECT
    with pytest.raises(PluginError, match=r"thing 'bad' from .* not a subclass of .*Base"):
        reg.add("bad", int)


def test_a_name_clash_names_both_owners():
    reg: Registry[type[Base]] = Registry("thing", base=Base)
    reg.add("same", type("One", (Base,), {}))
    with pytest.raises(PluginError, match=r"registered twice: by decoder-playground .*One.* and by other-dist .*Two"):
        reg.add("same", type("Two", (Base,), {}), origin="other-dist")
    with pytest.raises(UnknownName, match="Did you mean 'same'"):
        reg.get("sam")


def test_plugins_register_from_entry_points_once(on_path):
    _dist(on_path, "plug-things", "plug_things", "test_playground.things", {"extra": "plug_things:Extra"},
          f"from {__name__} import Base\nclass Extra(Base):\n    pass\n")
    reg: Registry[type[Base]] = Registry("thing", base=Base, group="test_playground.things")
    assert reg.load_plugins() == ["extra"]
    assert reg.origin("extra") == "plug-things" and reg.get("extra").__module__ == "plug_things"
    assert reg.load_plugins() == []  # the group is read once


def test_a_plugin_that_clashes_or_breaks_is_an_error_naming_it(on_path):
    _dist(on_path, "plug-clash", "plug_clash", "test_playground.clash", {"args": "plug_clash:Args"},
          f"from {__name__} import Base\nclass Args(Base):\n    pass\n")
    reg: Registry[type[Base]] = Registry("thing", base=Base, group="test_playground.clash")
    reg.add("args", type("Args", (Base,), {}))
    with pytest.raises(PluginError, match=r"'args' is registered twice: by decoder-playground .* by plug-clash"):
        reg.load_plugins()

    _dist(on_path / "b", "plug-broken", "plug_broken", "test_playground.broken", {"x": "plug_broken:Missing"},
          "raise ImportError('no such dependency: frobnicate')\n")
    sys.path.insert(0, str(on_path / "b"))
    try:
        reg2: Registry[type[Base]] = Registry("thing", base=Base, group="test_playground.broken")
        with pytest.raises(PluginError, match=r"plugin 'x' .*plug-broken failed to import: ImportError: no such"):
            reg2.load_plugins()
    finally:
        sys.path.remove(str(on_path / "b"))


def test_a_declared_name_is_known_before_its_module_is_imported_and_its_class_gets_the_card(on_path):
    global CURRENT
    CURRENT = reg = Registry("thing", base=f"{__name__}:Base")
    (on_path / "plug_lazy.py").write_text(f"from {__name__} import CURRENT, Base\n\n"
                                          "@CURRENT.register('lazy')\nclass Lazy(Base):\n    pass\n")
    reg.declare("lazy", "plug_lazy:Lazy", Card("a lazy thing"))
    reg.declare("ghost", "plug_lazy:Ghost", Card("never registered"))
    assert reg.names() == ["ghost", "lazy"] and "lazy" in reg and reg.origin("lazy") == PROJECT
    assert reg.card("lazy").summary == "a lazy thing" and "plug_lazy" not in sys.modules

    cls = reg.get("lazy")
    assert "plug_lazy" in sys.modules and cls.__name__ == "Lazy" and cls.name == "lazy"
    assert cls.summary == "a lazy thing" and reg.card("lazy") == Card("a lazy thing")
    with pytest.raises(PluginError, match="thing 'ghost' is declared in plug_lazy, which did not register it"):
        reg.get("ghost")
    with pytest.raises(PluginError, match=r"'lazy' is registered twice: by decoder-playground \(plug_lazy.Lazy\)"):
        reg.add("lazy", type("Other", (Base,), {}), origin="other-dist")
    with pytest.raises(PluginError, match="'lazy' is declared twice"):
        reg.declare("lazy", "plug_lazy:Lazy", Card("again"))


@pytest.mark.parametrize("package", ["backends.decoders", "backends.rewards"])
def test_every_decoder_and_reward_is_declared_where_its_module_registers_it(package):
    """The cards name the module of each class, and no module registers a name without a card."""
    module = __import__(package, fromlist=["_"])
    registry = module.DECODERS if package.endswith("decoders") else module.REWARDS
    declared = registry.names()
    import_modules(package, module.__path__)
    assert registry.names() == declared  # nothing registered that is not declared
    for name in declared:
        cls, card = registry.get(name), registry.card(name)
        assert cls.name == name and cls.Config is card.Config
        assert issubclass(cls, registry.base_class())


def test_threads_looking_up_names_for_the_first_time_all_get_their_class():
    """A fresh interpreter, five decoders and two rewards asked for at once from seven threads: the
    modules they share (torch, transformers, the LM state) are imported once, by one of them."""
    code = ("import threading\n"
            "from backends.decoders import DECODERS\n"
            "from backends.rewards import REWARDS\n"
            "errors = []\n"
            "def look_up(registry, name):\n"
            "    try:\n"
            "        registry.get(name)\n"
            "    except Exception as e:\n"
            "        errors.append(repr(e))\n"
            "asks = [(DECODERS, n) for n in ('args', 'rad', 'cd', 'sampling', 'prs')]\n"
            "asks += [(REWARDS, n) for n in ('sentiment', 'keywords')]\n"
            "threads = [threading.Thread(target=look_up, args=ask) for ask in asks]\n"
            "[t.start() for t in threads]\n"
            "[t.join() for t in threads]\n"
            "print(errors)\n")
    got = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, timeout=300)
    assert got.returncode == 0, got.stderr[-2000:]
    assert got.stdout.strip().splitlines()[-1] == "[]"
