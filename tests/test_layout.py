"""The layout rules that import-linter and ruff cannot check (README "How it is built").

- no import cycle between any two modules of ``edge`` or ``tui`` (grimp's graph);
- every module of ``edge`` has a place in the import-linter layers contract;
- a table's SQL lives in one module of ``edge/store`` (`OWNERS`) and nothing
  outside ``edge/store`` touches the connection (``.db``);
- one importer per heavy third-party library (`HEAVY`);
- no ``if TYPE_CHECKING:`` import in ``edge``.

Each check is a small function over source text or an import graph, run once on
the tree and once on a planted violation, so that it is seen to fail.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest
from sqlite_utils import Database

from edge.store.migrations import migrations

ROOT = Path(__file__).resolve().parents[1]

# Which module of edge/store holds the SQL of each table (the migrations' docstrings say the same).
OWNERS = {
    "observations": "edge/store/observations.py",
    "proposals": "edge/store/proposals.py",
    "feedback": "edge/store/proposals.py",
    "results": "edge/store/proposals.py",
    "checkpoints": "edge/store/core.py",
    "relay_outbox": "edge/store/relay.py",
    "relay_inbox": "edge/store/relay.py",
    "feedback_state": "edge/store/feedback.py",
    "adaptations": "edge/store/feedback.py",
    "suppressions": "edge/store/feedback.py",
    "memories": "edge/store/memory.py",
    "memory_vectors": "edge/store/memory.py",
    "memory_citations": "edge/store/memory.py",
    "memory_importance_cache": "edge/store/memory.py",
}

# The one module allowed to import each heavy third-party library (a pattern matches one file at most).
HEAVY = {
    "paho": ("edge/mqtt/client.py",),
    "amqtt": ("edge/mqtt/broker.py",),
    "aw_client": ("edge/sources/activitywatch.py",),
    "llama_cpp": ("edge/llm.py",),
    "faiss": ("edge/memory/index.py",),
    "onnxruntime": ("edge/encoder.py", "edge/reward.py", "edge/trigger/*.py"),
}

# The store's own test checks WAL mode and the applied migrations on the connection itself.
DB_ALLOWED = ("edge/store/*", "tests/test_store.py")


def sources(*folders: str) -> dict[str, str]:
    """``{path relative to the repository: text}`` of every .py file under ``folders``."""
    return {
        p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
        for folder in folders
        for p in sorted((ROOT / folder).rglob("*.py"))
    }


# ------------------------------------------------------------------ import cycles


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import cycles of a graph ``{module: modules it imports}``: its strongly connected parts."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1 or v in edges.get(v, ()):
                found.append(sorted(part))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("edge", "tui")
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_a_planted_cycle_is_found() -> None:
    graph = import_graph()
    graph["edge.store.core"].add("edge.loop")  # the loop imports the store: a circle
    assert any({"edge.loop", "edge.store.core"} <= set(c) for c in cycles(graph))
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# ------------------------------------------------------------------ layers


def layered_modules() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return {name.strip().strip("()") for layer in layers["layers"] for name in re.split(r"[|:]", layer)}


def unplaced(modules: Iterable[str], placed: set[str]) -> list[str]:
    return sorted(m for m in modules if m not in placed)


def edge_modules() -> list[str]:
    """``edge.<name>`` of every module and package directly in edge/ (edge/data holds no code)."""
    edge = ROOT / "edge"
    names = [p.stem for p in edge.glob("*.py") if p.name != "__init__.py"]
    names += [p.parent.name for p in edge.glob("*/__init__.py")]
    return sorted(f"edge.{n}" for n in names)


def test_every_module_has_a_layer() -> None:
    placed = layered_modules()
    assert "tui" in placed
    assert unplaced(edge_modules(), placed) == []
    assert unplaced([*edge_modules(), "edge.newroom"], placed) == ["edge.newroom"]


# ------------------------------------------------------------------ the store


def db_accesses(text: str) -> list[int]:
    """Lines that read an attribute named ``db`` (the store's connection)."""
    return [n.lineno for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Attribute) and n.attr == "db"]


def test_only_the_store_touches_the_connection() -> None:
    found = {
        path: lines
        for path, text in sources("edge", "tui", "tests", "scripts").items()
        if not any(fnmatch.fnmatch(path, allowed) for allowed in DB_ALLOWED) and (lines := db_accesses(text))
    }
    assert found == {}
    assert db_accesses("rows = hub.db['feedback'].get(fid)\nstore.dbname = 1\n") == [1]


_SQL_TABLE = re.compile(r"\b(?:from|join|into|update|table)\s+(\w+)", re.IGNORECASE)


def tables_named(text: str, tables: Iterable[str]) -> set[str]:
    """Tables a module's SQL names: in SQL strings, ``db.table("x")`` and ``db["x"]`` (docstrings aside)."""
    known = set(tables)
    tree = ast.parse(text)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            named |= {t for t in _SQL_TABLE.findall(node.value) if t in known}
        by_name = None  # db.table("x") and db["x"]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "table":
            by_name = node.args[0] if node.args else None
        elif isinstance(node, ast.Subscript):
            by_name = node.slice
        if isinstance(by_name, ast.Constant) and by_name.value in known:
            named.add(by_name.value)
    return named


def foreign_tables(files: Mapping[str, str], owners: Mapping[str, str]) -> dict[str, list[str]]:
    """``{module: tables it names but does not own}`` over ``files``."""
    out = {}
    for path, text in files.items():
        foreign = sorted(t for t in tables_named(text, owners) if owners[t] != path)
        if foreign:
            out[path] = foreign
    return out


def test_every_table_has_one_owner() -> None:
    db = Database(memory=True)
    migrations.apply(db)
    tables = {t for t in db.table_names() if not t.startswith("_") and t != "sqlite_sequence"}
    assert tables == set(OWNERS)


def test_a_tables_sql_lives_in_its_module() -> None:
    schema = ("edge/store/migrations.py", "edge/store/__init__.py")
    store = {p: t for p, t in sources("edge/store").items() if p not in schema}
    assert foreign_tables(store, OWNERS) == {}
    planted = {
        "edge/store/relay.py": 'SQL = "select * from proposals p join feedback f on f.proposal_id = p.id"',
        "edge/store/core.py": (
            'def f(db):\n    """Rows from observations."""\n'
            '    return db["checkpoints"], db.table("memories")'
        ),
    }
    assert foreign_tables(planted, OWNERS) == {
        "edge/store/relay.py": ["feedback", "proposals"],
        "edge/store/core.py": ["memories"],
    }


# ------------------------------------------------------------------ heavy libraries


def imported_roots(text: str) -> set[str]:
    """Top-level names of the absolute imports of a module, wherever they are."""
    roots = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def heavy_trespassers(files: Mapping[str, str], heavy: Mapping[str, tuple[str, ...]]) -> list[str]:
    """``library: module`` for each import outside the allowed modules, and each pattern matched twice."""
    bad = []
    for lib, allowed in heavy.items():
        importers = sorted(path for path, text in files.items() if lib in imported_roots(text))
        bad += [f"{lib}: {p}" for p in importers if not any(fnmatch.fnmatch(p, a) for a in allowed)]
        for pattern in allowed:
            matched = [p for p in importers if fnmatch.fnmatch(p, pattern)]
            bad += [f"{lib}: {p} (one module of {pattern})" for p in matched[1:]]
    return bad


def test_one_importer_per_heavy_library() -> None:
    files = sources("edge", "tui")
    assert heavy_trespassers(files, HEAVY) == []
    planted = {
        **files,
        "edge/gate.py": "import onnxruntime as ort\n",
        "tui/relay.py": "def f():\n    from paho.mqtt import client\n",
        "edge/trigger/model.py": "import onnxruntime\n",
        "edge/trigger/other.py": "import onnxruntime\n",
    }
    assert heavy_trespassers(planted, HEAVY) == [
        "paho: tui/relay.py",
        "onnxruntime: edge/gate.py",
        "onnxruntime: edge/trigger/other.py (one module of edge/trigger/*.py)",
    ]


# ------------------------------------------------------------------ TYPE_CHECKING


def type_checking_imports(text: str) -> list[int]:
    """Lines of imports under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    lines = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines += [n.lineno for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
    return lines


def test_no_type_checking_imports() -> None:
    found = {p: lines for p, t in sources("edge").items() if (lines := type_checking_imports(t))}
    assert found == {}
    planted = "import typing\nif typing.TYPE_CHECKING:\n    from edge.hub import Hub\n"
    assert type_checking_imports(planted) == [3]


@pytest.mark.parametrize("folder", ["edge", "tui"])
def test_the_checks_read_real_files(folder: str) -> None:
    """Guards the checks above against scanning nothing (a moved folder, a wrong root)."""
    assert len(sources(folder)) > 10
