"""The code keeps its shape: lint, format, types, and dependencies pointing one way."""

import ast
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
