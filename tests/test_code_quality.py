"""The code keeps its shape: lint, format, types, and dependencies pointing one way."""

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def imports_of(folder: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path.relative_to(ROOT)), node.module))
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("models", ("aiogram", "telegram", "handlers", "bot", "babel")),
        ("handlers", ("aiogram", "telegram", "bot")),
    ],
)
def test_dependencies_point_bot_to_handlers_to_models(folder: str, forbidden: tuple) -> None:
    crossing = [
        (path, module) for path, module in imports_of(folder) if module.split(".")[0] in forbidden
    ]
    assert crossing == []


def test_applicants_never_reach_into_staff_and_staff_routes_are_gated() -> None:
    """Nothing applicants or the FAQ use imports staff code; every staff journey has a gate."""
    import importlib
    import pkgutil

    import handlers.staff
    from handlers import JOURNEYS
    from handlers.core.routing import Journey, Requires

    reaching = [
        (path, module)
        for folder in ("handlers/applicant", "handlers/faq")
        for path, module in imports_of(folder)
        if module.startswith("handlers.staff")
    ]
    assert reaching == []
    staff = [
        journey
        for info in pkgutil.iter_modules(handlers.staff.__path__)
        for journey in vars(importlib.import_module(f"handlers.staff.{info.name}")).values()
        if isinstance(journey, Journey)
    ]
    assert {j.name for j in staff} >= {"staff", "staff members", "exports", "broadcast"}
    assert all(any(j is wired for wired in JOURNEYS) for j in staff)
    assert [j.name for j in staff if not isinstance(j.gate, Requires)] == []


def module_graph(folders: tuple[str, ...]) -> dict[str, set[str]]:
    """Which of our modules each module imports, wherever the import stands (also under
    TYPE_CHECKING or inside a function)."""
    paths = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {module: set() for module in paths}
    for module, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                # "from a.b import c" imports the module a.b.c when there is one
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            graph[module] |= {name for name in names if name in paths and name != module}
    return graph


def test_no_module_imports_itself_through_others() -> None:
    graph = module_graph(("bot", "handlers", "models"))
    assert "handlers.core.services" in graph["bot.scheduler"]  # the graph sees real imports
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_ruff_lint_and_format() -> None:
    folders = ["bot", "handlers", "models", "tests", "bench", "migrations"]
    lint = subprocess.run(
        [BIN / "ruff", "check", *folders], cwd=ROOT, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [BIN / "ruff", "format", "--check", *folders], cwd=ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout


def test_the_code_type_checks() -> None:
    result = subprocess.run(
        [BIN / "mypy", "models", "handlers", "bot", "--ignore-missing-imports"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout
