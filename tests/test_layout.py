"""The layout's rules, checked from the source: every module imports on its own; imports
go flows -> tasks -> db (tasks.core beneath all), with no cycle and no private Prefect
module; and SQL longer than a line lives in .sql files, not in Python strings."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flows", "tasks")

# third-party packages imported once before the forks, so each module's own import is
# what a fork measures (seqguard's modules are imported in no parent)
IMPORT_EACH = """
import importlib, os, sys, traceback
import duckdb, pyarrow, prefect, prefect.flows, prefect.tasks, pydantic, sqlglot, yaml
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            print(f"{name}: {traceback.format_exc().strip().splitlines()[-1]}", flush=True)
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        failed.append(name)
print("failed:", " ".join(failed), flush=True)
sys.exit(1 if failed else 0)
"""


def module_files() -> dict[str, Path]:
    """Every module of flows/ and tasks/ by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The seqguard modules `name` imports anywhere in its file (at the top, inside a
    function or under TYPE_CHECKING: a type-only import is still a dependency)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {m for m in found if m in modules and m != name}


def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer(module: str) -> int:
    """flows 3, tasks 2, tasks.db 1, tasks.core 0: a module imports its layer or below."""
    if module.startswith("flows"):
        return 3
    if module == "tasks.core" or module.startswith("tasks.core."):
        return 0
    if module == "tasks.db" or module.startswith("tasks.db."):
        return 1
    return 2


def test_every_module_imports_on_its_own() -> None:
    names = sorted(n for n in module_files() if not n.endswith("__main__"))  # they run
    done = subprocess.run([sys.executable, "-c", IMPORT_EACH, *names], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(names) > 60


def test_imports_go_flows_to_tasks_to_db_and_never_back() -> None:
    backwards = sorted(f"{module} imports {target}" for module, targets in graph().items()
                       for target in targets if layer(target) > layer(module))
    assert backwards == []


def test_no_module_imports_itself_round_a_cycle() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges[module]):
            if state.get(target) == "open":
                cycles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_private_prefect_module_is_imported() -> None:
    private = []
    for path in module_files().values():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            private += [f"{path.relative_to(ROOT)}: {n}" for n in names
                        if n.split(".")[0] == "prefect"
                        and any(p.startswith("_") for p in n.split("."))]
    assert private == []


SQL_START = re.compile(r"^\s*\(?\s*(select|insert|update|delete|create|with|merge|alter|drop"
                       r"|copy|attach)\b", re.IGNORECASE)
SQL_BODY = re.compile(r"\b(from|into|set|table|values|where|join)\b", re.IGNORECASE)


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the module, class and function docstring nodes (prose, not code)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_no_sql_longer_than_a_line_in_a_python_string() -> None:
    multi_line = []
    for path in module_files().values():
        tree = ast.parse(path.read_text())
        prose = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}"
                               for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in prose:
                    continue
                text = node.value
            else:
                continue
            spans_lines = "\n" in text.strip() or node.end_lineno != node.lineno
            if spans_lines and SQL_START.match(text) and SQL_BODY.search(text):
                multi_line.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert multi_line == []
