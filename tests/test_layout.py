"""The folder layout is the architecture: each subpackage of `bench` imports only the ones below it, and
`bench` never imports a codec (the registry loads them as plugins)."""

import ast
from pathlib import Path

import bench

BENCH = Path(bench.__file__).parent
#: Each subpackage and what it may import, lowest first (the README's layout section says the same).
ALLOWED = {
    "errors": set(),
    "data": {"errors"},
    "api": {"errors", "data"},
    "coding": {"errors", "data", "api"},
    "learn": {"errors", "data", "api", "coding"},
    "run": {"errors", "data", "api", "coding", "learn"},
    "report": {"errors", "data", "api", "coding", "learn", "run"},
    "cli": {"errors", "data", "api", "coding", "learn", "run", "report"},
}


def _files(layer: str) -> list[Path]:
    if layer in ("errors", "cli"):
        return [BENCH / f"{layer}.py"] + ([BENCH / "__main__.py"] if layer == "cli" else [])
    return sorted((BENCH / layer).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = ("bench", *path.relative_to(BENCH).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function (lazy imports count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from bench.run import cell`
    return names


def test_subpackages_import_only_the_layers_below_them():
    problems = []
    for layer, allowed in ALLOWED.items():
        files = _files(layer)
        for path in files:
            for module in _imported_modules(path):
                parts = module.split(".")
                if parts[0] in ("bench_codecs", "bench_baselines"):
                    problems.append(f"{path.relative_to(BENCH)} imports the codec module {module}")
                elif parts[0] == "bench" and len(parts) > 1 and parts[1] != layer and parts[1] not in allowed:
                    problems.append(f"{path.relative_to(BENCH)} ({layer}) imports {module}")
    assert not problems, "\n".join(problems)


def test_every_subpackage_says_what_lives_there_and_what_it_may_import():
    for layer in ALLOWED:
        if layer in ("errors", "cli"):
            continue
        doc = ast.get_docstring(ast.parse((BENCH / layer / "__init__.py").read_text())) or ""
        assert "May import" in doc, f"bench/{layer}/__init__.py does not say what it may import"


def test_no_module_imports_one_that_imports_it():
    """Inside a subpackage too: a cycle (even through a lazy import) means two modules are one job
    split in the wrong place (the cell and the whole run were, before `run/cell.py`)."""
    files = [p for layer in ALLOWED for p in _files(layer)]
    names = {_module_name(p): p for p in files}
    graph = {name: {m for m in _imported_modules(path) if m in names and m != name} for name, path in names.items()}

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start])

    cycles = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if reaches(b, a, {b})})
    assert not cycles, f"import cycles: {cycles}"
