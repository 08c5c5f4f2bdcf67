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
