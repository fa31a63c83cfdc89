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
}


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function (lazy imports count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_subpackages_import_only_the_layers_below_them():
    problems = []
    for layer, allowed in ALLOWED.items():
        files = [BENCH / "errors.py"] if layer == "errors" else sorted((BENCH / layer).rglob("*.py"))
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
        if layer == "errors":
            continue
        doc = ast.get_docstring(ast.parse((BENCH / layer / "__init__.py").read_text())) or ""
        assert "May import" in doc, f"bench/{layer}/__init__.py does not say what it may import"
