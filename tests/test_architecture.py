"""The house rules of docs/architecture.md, checked on the source (a guard for later work).

Every import counts, inside functions too. ``audit_flows`` is the installed name of the
repository's ``flows/`` folder, so it is read as ``flows``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60

# which stage package may import which (besides itself and the top-level modules of ``audit``)
STAGES = ("prompts", "send", "classify", "stance", "stats", "report", "run", "cli")
MAY_IMPORT = {
    "prompts": set(),
    "send": {"prompts"},
    "classify": {"send"},
    "stance": {"prompts", "send", "classify"},
    "stats": {"classify", "stance"},
    "report": {"classify", "stance", "stats"},
    "run": {"prompts", "send", "classify", "stance", "stats", "report"},
    "cli": set(STAGES),
}
TOP_LEVEL = {"errors", "config", "csvio", "_lazy", "fakeserver", "localmodel"}


def _modules() -> dict[str, Path]:
    mods = {}
    for folder in ("audit", "flows"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (absolute names, ``audit_flows`` read as ``flows``)."""
    out: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            mod = ".".join(p for p in (base, node.module or "") if p)
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return {("flows" + t.removeprefix("audit_flows")) if t.split(".")[0] == "audit_flows" else t for t in out}


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _graph() -> dict[str, set[str]]:
    """Module → project modules it imports (a submodule importing its own package excluded)."""
    deps: dict[str, set[str]] = defaultdict(set)
    for name, targets in IMPORTS.items():
        for t in targets:
            if t in MODULES and t != name and not name.startswith(t + "."):
                deps[name].add(t)
    return deps


def _cycles(deps: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(deps[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(set(deps) | {w for ws in list(deps.values()) for w in ws}):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles(defaultdict(set, {"a": {"b"}, "b": {"a"}, "c": {"a"}})) == [["a", "b"]]


def test_only_the_cli_imports_prefect_or_the_flows() -> None:
    bad = [(name, t) for name, targets in IMPORTS.items() for t in targets
           if name.startswith("audit") and not name.startswith("audit.cli")
           and t.split(".")[0] in ("prefect", "flows")]
    assert bad == []


def test_the_flows_never_import_the_cli() -> None:
    bad = [(name, t) for name, targets in IMPORTS.items() for t in targets
           if name.startswith("flows") and t.startswith("audit.cli")]
    assert bad == []


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "audit" and parts[1] in STAGES else None


def test_stages_import_only_earlier_stages() -> None:
    bad = []
    for name, targets in IMPORTS.items():
        mine = _stage(name)
        if mine is None:
            continue
        for t in targets:
            theirs = _stage(t)
            if theirs and theirs != mine and theirs not in MAY_IMPORT[mine]:
                bad.append((name, t))
    assert bad == []


def test_top_level_modules_import_no_stage() -> None:
    bad = [(name, t) for name, targets in IMPORTS.items() if name.split(".")[-1] in TOP_LEVEL
           and name.count(".") == 1 for t in targets if _stage(t)]
    assert bad == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("audit")))
def test_module_and_function_sizes(name: str) -> None:
    source = MODULES[name].read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


@pytest.mark.parametrize("constant", ["ANSWER_LABELS", "NON_ANSWER_LABELS", "HEADLINE_METRICS", "TRUE_VALUES"])
def test_shared_constants_are_defined_once(constant: str) -> None:
    homes = []
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == constant for t in targets):
                homes.append(name)
    assert len(homes) == 1, homes


def test_every_stage_package_declares_its_public_names() -> None:
    import importlib

    for stage in STAGES[:-1]:
        package = importlib.import_module(f"audit.{stage}")
        assert package.__all__ and all(hasattr(package, n) for n in package.__all__), stage
