"""The investigate package's public API is its ``__all__``, and the stage reaches no
further up than the store: never the worker, the app or the web layer."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import warden.investigate


def test_the_public_api_is_exactly_all() -> None:
    public = {name for name, value in vars(warden.investigate).items()
              if not name.startswith("_") and not isinstance(value, ModuleType)}
    assert public == set(warden.investigate.__all__)


def test_the_stage_never_imports_the_runner_the_app_or_the_web() -> None:
    imported: set[str] = set()
    for source in Path(warden.investigate.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert not {m for m in imported
                if m in ("warden.worker", "warden.app") or m.startswith("warden.web")}
