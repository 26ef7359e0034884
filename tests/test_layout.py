"""The package layout (docs/layout.md): the old public import paths are the new modules, the
numba backend's modules import no cycle, and no backend imports another."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ALIASES = {"snn.layers": "snn.training.layers", "snn.surrogate": "snn.training.surrogate",
           "snn.encoding": "snn.training.encoding", "rules.diehl_cook": "rules.stdp.diehl_cook",
           "rules.sym_stdp": "rules.stdp.sym_stdp", "rules.pattern": "rules.stdp.pattern"}


@pytest.mark.parametrize("old, new", sorted(ALIASES.items()))
def test_old_import_paths_are_the_new_modules(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names), at any depth of the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_numba_backend_imports_no_cycle():
    backends = ROOT / "snn" / "backends"
    graph = {module_name(p): {m for m in imports(p) if m.startswith("snn.backends.numba")}
             for p in backends.glob("numba*.py")}
    for start in graph:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                assert nxt != start, f"{start} imports itself through {sorted(seen)}"
                if nxt in graph and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)


def test_no_backend_imports_another():
    backends = ROOT / "snn" / "backends"
    families = {"numba": sorted(backends.glob("numba*.py")),
                "torch": sorted((backends / "torch").rglob("*.py"))}
    for family, files in families.items():
        other = "torch" if family == "numba" else "numba"
        for path in files:
            bad = sorted(m for m in imports(path) if m.startswith(f"snn.backends.{other}"))
            assert not bad, f"{module_name(path)} imports {bad}"
