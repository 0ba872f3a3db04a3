"""The doors between rooms (ARCHITECTURE.md, docs/architecture.md), checked on the source itself.
import-linter (``make lint``) checks which room imports which; these tests check what imports
cannot see: who runs SQL, who makes a Grant, and that no module grows into a second room."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "trustface"
MODULES = sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)
#: SQLAlchemy constructs that build or run SQL
SQL_NAMES = {"select", "insert", "update", "delete", "text", "func", "and_", "or_", "event", "literal_column"}
SQL_CALLS = {"execute", "exec_driver_sql", "query", "scalars", "scalar"}
MAX_LINES = 450


def _rel(path: Path) -> str:
    return str(path.relative_to(SRC))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text("utf-8"), filename=str(path))


@pytest.mark.parametrize("path", [p for p in MODULES if p.parent.name != "db" and "db" not in p.relative_to(SRC).parts],
                         ids=_rel)
def test_only_the_db_room_runs_sql(path):
    """`db` is the only module with SQL or ORM queries; other rooms call its repository functions."""
    found = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in SQL_NAMES]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append(f"line {node.lineno}: calls .{node.func.attr}()")
    assert not found, f"{_rel(path)} runs SQL outside db/: {found}"


@pytest.mark.parametrize("path", [p for p in MODULES if "policy" not in p.relative_to(SRC).parts], ids=_rel)
def test_only_the_policy_gate_mints_grants(path):
    """Only `policy.gate.authorize` constructs a Grant (the dataclass also refuses a forgery at run
    time); every other room receives one."""
    found = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("Grant", "_make_grant"):
                found.append(node.lineno)
    assert not found, f"{_rel(path)} constructs a Grant at lines {found}"


def test_no_module_is_a_second_room():
    """One job per module: none above ~450 lines (generated migrations aside)."""
    long = {_rel(p): n for p in MODULES if (n := len(p.read_text("utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_time_side_effects_on_the_environment():
    """Importing the library changes neither os.environ nor sys.path (backends are chosen at first use)."""
    import subprocess
    import sys

    code = ("import os, sys; env, path = dict(os.environ), list(sys.path); import trustface, trustface.engine, "
            "trustface.services, trustface.api, trustface.cli; "
            "print(dict(os.environ) == env, list(sys.path) == path)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"], out.stdout + out.stderr


def test_rooms_import_each_other_without_cycles():
    """No two rooms import each other, directly or round a loop (access and liveness used to)."""
    import grimp

    graph = grimp.build_graph("trustface")
    rooms = sorted({m.split(".")[1] for m in graph.modules if m.count(".") >= 1})
    edges = {room: set() for room in rooms}
    for module in graph.modules:
        if module.count(".") < 1:
            continue
        source = module.split(".")[1]
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("trustface.") and (target := imported.split(".")[1]) != source:
                edges[source].add(target)

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    return path + [start]
                if nxt not in path:
                    stack.append((nxt, path + [nxt]))
        return None

    cycles = {room: c for room in rooms if (c := cycle_from(room))}
    assert not cycles, f"rooms in an import cycle: {cycles}"


@pytest.mark.parametrize("path", [p for p in MODULES if "policy" not in p.relative_to(SRC).parts], ids=_rel)
def test_the_policy_gate_is_never_called_just_gate_where_doors_live(path):
    """One name per concept: outside `policy/`, the policy gate module is imported as `policy_gate`,
    so `gate` always means a door (`access.gates`)."""
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module == "trustface.policy":
            for alias in node.names:
                assert alias.name != "gate" or alias.asname == "policy_gate", \
                    f"{_rel(path)}:{node.lineno} imports trustface.policy.gate as {alias.asname or 'gate'}"
