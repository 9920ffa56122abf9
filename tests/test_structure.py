"""The shape of the package: no import cycle, the import directions of DESIGN.md, leaves that stay
leaves, and one test file per module.

How imports are read: every ``import`` / ``from ... import`` statement of ``ovis/**/*.py`` is
parsed (never executed). A statement in a function body is *local*: it runs when the function
is called, after every module has been loaded, so it cannot take part in an import cycle, and
the cycle test ignores it (this is the usual way to defer a heavy import such as tensorboard or
ray). Statements under ``if TYPE_CHECKING:`` never run and are ignored. The *direction* rules
("estimators never import training", ...) apply to local imports too: a deferred import is
still a dependency.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ovis"
TESTS = ROOT / "tests"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: Dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, level: int, target: str) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str) -> List[Tuple[str, bool, int]]:
    """``(imported ovis module, local?, line)`` for every import statement of ``module``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: List[Tuple[str, bool, int]] = []

    def add(name: str, local: bool, line: int) -> None:
        # the deepest existing ovis module named by ``name`` (``ovis.runs.RunDirectory`` -> ``ovis.runs``)
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name:
            found.append((name, local, line))

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, local, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(module, child.level, child.module or "")
                for alias in child.names:
                    add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base, local,
                        child.lineno)
            visit(child, local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return [(name, local, line) for name, local, line in found if name != module]


GRAPH = {m: imports_of(m) for m in MODULES}


def find_cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (or a self-loop), each as a
    sorted list (Tarjan's algorithm)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return cycles


def test_the_cycle_finder_finds_cycles():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    assert find_cycles({"a": {"a"}}) == [["a"]]


def test_the_import_reader_resolves_relative_and_local_imports():
    loop = {name: local for name, local, _ in GRAPH["ovis.training.loop"]}
    assert loop["ovis.runs"] is False and loop["ovis.training.factory"] is False  # from ..runs / from . import
    assert loop["ovis.analysis.gradients"] is True  # imported inside a method
    assert ("ovis.registry", False) in {(n, l) for n, l, _ in GRAPH["ovis.models.registry"]}


def test_no_import_cycle_between_modules_of_the_package():
    edges = {m: {name for name, local, _ in imports if not local} for m, imports in GRAPH.items()}
    assert find_cycles(edges) == []


def test_the_flags_of_run_py_do_not_import_the_loop():
    """The loop imports the flags' helpers; the flags never import the loop back, not even locally
    (the command in ovis.training.command joins them)."""
    assert "ovis.training.loop" not in {name for name, _, _ in GRAPH["ovis.training.arguments"]}


#: DESIGN.md: parts that must never import each other (local imports included)
FORBIDDEN = {
    "ovis.estimators": ("ovis.training", "ovis.sweep", "ovis.reporting", "ovis.datasets"),
    "ovis.models": ("ovis.estimators",),
    "ovis.sweep": ("ovis.estimators", "ovis.models", "ovis.training"),
    "ovis.reporting": ("ovis.training", "ovis.estimators"),
    "ovis.flows": ("ovis.estimators", "ovis.training"),
    "ovis.gmmvi": ("ovis.estimators", "ovis.training"),
}
#: modules that import nothing of ovis but themselves
LEAVES = ("ovis.runs", "ovis.registry", "ovis.estimator_ids")


def _within(name: str, part: str) -> bool:
    return name == part or name.startswith(part + ".")


def test_import_directions_of_the_design():
    bad = [f"{m}:{line} imports {name}" for m, imports in GRAPH.items() for name, _, line in imports
           for part, banned in FORBIDDEN.items() if _within(m, part)
           for b in banned if _within(name, b)]
    assert bad == []


def test_leaves_import_nothing_else_of_the_package():
    bad = [f"{m}:{line} imports {name}" for m, imports in GRAPH.items() for name, _, line in imports
           for leaf in LEAVES if _within(m, leaf) and not _within(name, leaf) and name != "ovis"]
    assert bad == []


def test_light_modules_import_without_torch():
    """The run directories, the registry and the id grammar serve the sweep manager and the
    reports, which must not pay for importing torch."""
    code = ("import sys, ovis.runs, ovis.registry, ovis.estimator_ids, ovis.sweep.manager; "
            "print(sorted(m for m in ('torch', 'numpy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------- tests mirror the package
#: modules whose test file is still to be written by the integrator (part 3 of issue 12);
#: empty this list as the files arrive
PENDING: set = set()  # modules allowed to lack their test file for now (none)


def _defines_public_names(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return bool(getattr(node.value, "elts", None))
    return False


def mirror_of(module: str) -> Path:
    """``ovis.a.b`` -> ``tests/a/test_b.py`` (``ovis.cli`` -> ``tests/test_cli.py``)."""
    parts = module.split(".")[1:]
    return TESTS.joinpath(*parts[:-1], f"test_{parts[-1]}.py")


def missing_test_files() -> List[str]:
    """Modules (not packages) defining ``__all__`` whose ``tests/.../test_<module>.py`` is missing."""
    return sorted(m for m, path in MODULES.items()
                  if not _is_package(m) and _defines_public_names(path) and not mirror_of(m).exists())


def test_every_module_with_public_names_has_its_test_file():
    missing = [m for m in missing_test_files() if m not in PENDING]
    assert missing == [], "write " + ", ".join(str(mirror_of(m).relative_to(ROOT)) for m in missing)


def test_the_pending_list_only_holds_modules_still_missing_a_test_file():
    assert sorted(PENDING - set(missing_test_files())) == []


@pytest.mark.parametrize("module,expected", [("ovis.cli", "tests/test_cli.py"),
                                             ("ovis.sweep.backends.local", "tests/sweep/backends/test_local.py"),
                                             ("ovis.runs.atomic", "tests/runs/test_atomic.py")])
def test_mirror_paths(module, expected):
    assert mirror_of(module) == ROOT / expected


def test_every_module_imports_even_without_the_optional_ray():
    """--doctest-modules imports every module of the package; the Ray backend imports ray only
    when it runs, so collection works where the optional extra is not installed."""
    code = ("import importlib, sys\n"
            "sys.modules['ray'] = None  # as if ray were not installed\n"
            "bad = []\n"
            f"for name in {sorted(MODULES)!r}:\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except Exception as err:\n"
            "        bad.append(f'{name}: {type(err).__name__}: {err}')\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
