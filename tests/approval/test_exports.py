"""Each stage package re-exports a small public API in ``__all__``; the approval rules
stay pure (no store, web, HTTP or clock)."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import pytest

import warden.approval
import warden.execute
import warden.verify


@pytest.mark.parametrize("package", [warden.approval, warden.execute, warden.verify])
def test_the_public_api_is_exactly_all(package: ModuleType) -> None:
    public = {name for name, value in vars(package).items()
              if not name.startswith("_") and not isinstance(value, ModuleType)}
    assert public == set(package.__all__)


def test_the_quorum_rules_import_nothing_with_side_effects() -> None:
    source = Path(warden.approval.__file__).parent / "_quorum.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert imported <= {"__future__", "collections.abc", "dataclasses", "warden.domain"}
    assert "datetime.now" not in source.read_text()
