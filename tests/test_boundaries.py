"""The layering: which package may import which (walks every module's imports with `ast`)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "playground": {"torch", "transformers", "accelerate"},
    "backends": {"gradio", "sqlalchemy", "playground", "storage", "plotly"},
    "storage": {"torch", "transformers", "gradio", "playground", "backends"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_packages_import_only_what_their_layer_allows():
    problems = []
    for package, forbidden in FORBIDDEN.items():
        files = sorted((ROOT / package).rglob("*.py"))
        assert files, f"{package}/ has no modules"
        for path in files:
            bad = imported_roots(path) & forbidden
            if bad:
                problems.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert not problems, "\n".join(problems)


def test_the_checker_sees_imports(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("import torch.nn\nfrom gradio import Blocks\nfrom . import x\n")
    assert imported_roots(sample) == {"torch", "gradio"}


# ---- the playground uses only backends' public names ----------------------------------------------
# Public: a name without a leading underscore, imported from one of these modules, and listed in the
# module's `__all__` where it has one (the packages `decoders`, `rewards`, `evaluation` and `api`
# do). Submodules of those packages (`backends.rewards.embedding`, `backends.decoders.args`) and
# the CLIs, the zoo and training are internal: the UI reaches them through the names above.
PUBLIC_MODULES = {
    "backends.allowlist", "backends.api", "backends.config", "backends.decoders", "backends.engine",
    "backends.evaluation", "backends.events", "backends.loading", "backends.presets", "backends.ranking",
    "backends.registry", "backends.rewards",
}


def module_all(module: str) -> set[str] | None:
    """The module's `__all__` (read with ast, nothing imported), or None when it has none."""
    path = ROOT / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return None


def backends_names(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name) of every backends import in a file; name None for `import backends.x`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "backends":
            for alias in node.names:
                module = f"{node.module}.{alias.name}"
                file = ROOT / Path(*module.split("."))
                if file.is_dir() or file.with_suffix(".py").is_file():
                    found.append((node.lineno, module, None))  # `from backends import api`: a module
                else:
                    found.append((node.lineno, node.module, alias.name))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "backends"]
    return found


def test_the_playground_imports_only_public_backends_names():
    problems = []
    for path in sorted((ROOT / "playground").rglob("*.py")):
        for line, module, name in backends_names(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if module not in PUBLIC_MODULES:
                problems.append(f"{where}: {module} is not a public backends module (see PUBLIC_MODULES)")
            elif name is not None and (name.startswith("_") or name not in (module_all(module) or {name})):
                problems.append(f"{where}: {module}.{name} is not public (underscored or not in __all__)")
    assert not problems, "\n".join(problems)


def test_the_public_check_sees_private_names(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("from backends.rewards.embedding import packaged_minilm\nfrom backends.decoders import args\n"
                      "from backends.events import _clean\nimport backends.engine\n")
    assert backends_names(sample) == [(1, "backends.rewards.embedding", "packaged_minilm"),
                                      (2, "backends.decoders.args", None), (3, "backends.events", "_clean"),
                                      (4, "backends.engine", None)]
    assert "DECODERS" in module_all("backends.decoders") and module_all("backends.events") is None


# ---- size bars --------------------------------------------------------------------------------------
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60
SIZED = ("app.py", "backends", "storage", "playground", "bench")  # everything but tests/
# Known offenders, each with who is fixing it; the test also fails once one is fixed (delete its row).
KNOWN: dict[str, str] = {}


def oversized() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    paths = [ROOT / "app.py", *(p for d in SIZED[1:] for p in sorted((ROOT / d).rglob("*.py")))]
    for path in paths:
        text = path.read_text()
        rel = str(path.relative_to(ROOT))
        if text.count("\n") > MAX_MODULE_LINES:
            found.setdefault(rel, []).append(f"{text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.setdefault(rel, []).append(f"{node.name}() {length} lines")
    return found


def test_no_module_over_400_lines_and_no_function_over_60():
    found = oversized()
    new = {k: v for k, v in found.items() if k not in KNOWN}
    assert not new, "\n".join(f"{k}: {', '.join(v)}" for k, v in new.items())
    fixed = [k for k in KNOWN if k not in found]
    assert not fixed, f"no longer over the bars, remove from KNOWN: {fixed}"


def test_every_playground_setting_is_documented():
    """Each PLAYGROUND_* variable the code reads is described in playground/settings.py's docstring."""
    import re

    documented = ast.get_docstring(ast.parse((ROOT / "playground" / "settings.py").read_text())) or ""
    paths = [ROOT / "app.py", *(p for d in ("backends", "storage", "playground") for p in (ROOT / d).rglob("*.py"))]
    used = {name for path in paths for name in re.findall(r"PLAYGROUND_[A-Z_]+", path.read_text())}
    assert used, "no settings found: the scan is broken"
    missing = sorted(name for name in used if name not in documented)
    assert not missing, f"undocumented settings (add them to playground/settings.py's docstring): {missing}"
