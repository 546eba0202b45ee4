"""The layout's own promises: imports run one way (no circle, function-level imports included),
and every file or module a docstring or comment names exists."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "app", "benchmarks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports anywhere in it (relative imports resolved)."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != here:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    modules = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imports(p, modules) for p in paths}
    for name in graph:  # importing a package's module runs the package's __init__ first: not an edge back
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_is_acyclic():
    graph = import_graph()
    assert "core.pipeline" in graph["core.studies"]  # the graph sees the imports it should
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_a_circle_would_be_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_core_imports_no_streamlit_and_no_benchmark():
    for name, imported in import_graph().items():
        if name.startswith("core"):
            assert not {m for m in imported if m.startswith(("app", "benchmarks"))}, name
    for path in (ROOT / "core").rglob("*.py"):
        assert "import streamlit" not in path.read_text(), path


#: a path of the project written in text: ``core/x.py``, ``app/views/y.py``, ``tests/test_z.py``
PATH = re.compile(r"\b((?:core|app|tests|benchmarks|docs)/[\w/]+\.(?:py|md))\b")
#: a Sphinx reference to a project module or object: :mod:`core.x`, :func:`core.x.f`
REFERENCE = re.compile(r":(?:mod|func|class|data|meth|attr):`~?((?:core|app)\.[\w.]+)`")


def _resolves(dotted: str) -> bool:
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_file_and_module_a_docstring_or_comment_names_exists():
    missing = []
    texts = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")] + [ROOT / "docs" / "ARCHITECTURE.md"]
    for path in texts:
        text = path.read_text()
        for found in PATH.findall(text):
            if not (ROOT / found).exists():
                missing.append(f"{path.relative_to(ROOT)}: {found}")
        for found in REFERENCE.findall(text):
            if not _resolves(found.rstrip(".")):
                missing.append(f"{path.relative_to(ROOT)}: {found}")
    assert missing == []
