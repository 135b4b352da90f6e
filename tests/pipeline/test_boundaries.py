"""What the stages may import, read from their source (every import counts: at the top,
inside a function, or only for type hints).

A stage never reaches up to what runs it (the runner's process, the app, the web layer,
the CLI), and the stage packages import each other one way only: a cycle means two stages
cannot be understood, tested or changed apart.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import warden

WARDEN = Path(warden.__file__).parent
# The stages of the pipeline, and what they are made of (ARCHITECTURE.md's path of one
# alert; ``changes`` and ``trust`` feed triage and the policy with what they recorded).
STAGE_PACKAGES = ("ingest", "correlate", "investigate", "triage", "policy", "approval",
                  "execute", "verify", "audit", "changes", "trust")
# What runs the stages: never imported by them.
SHELL = ("warden.worker", "warden.app", "warden.web", "warden.cli")


def imports_of(package: str) -> Iterator[tuple[Path, int, str]]:
    """Every absolute ``warden.…`` module a package's modules import: (file, line, name)."""
    for path in sorted((WARDEN / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.startswith("warden."):
                    yield path.relative_to(WARDEN), node.lineno, name


def test_no_stage_imports_the_runner_the_app_the_web_layer_or_the_cli() -> None:
    reaching_up = [f"{path}:{line} imports {name}"
                   for package in (*STAGE_PACKAGES, "pipeline")
                   for path, line, name in imports_of(package)
                   if any(name == shell or name.startswith(shell + ".") for shell in SHELL)]
    assert reaching_up == []


def test_the_stage_packages_import_each_other_one_way_only() -> None:
    uses: dict[str, dict[str, str]] = {package: {} for package in STAGE_PACKAGES}
    for package in STAGE_PACKAGES:
        for path, line, name in imports_of(package):
            used = name.split(".")[1]
            if used in uses and used != package:
                uses[package].setdefault(used, f"{path}:{line}")
    cycles = [cycle for package in STAGE_PACKAGES
              if (cycle := _cycle_through(package, uses)) is not None]
    assert cycles == []


def _cycle_through(start: str, uses: dict[str, dict[str, str]]) -> list[str] | None:
    """A path of imports from ``start`` back to itself (each step with the import that
    makes it), or None."""
    stack: list[tuple[str, list[str]]] = [(start, [])]
    seen: set[str] = set()
    while stack:
        package, path = stack.pop()
        for used, where in sorted(uses[package].items()):
            step = [*path, f"{package} -> {used} ({where})"]
            if used == start:
                return step
            if used not in seen:
                seen.add(used)
                stack.append((used, step))
    return None
