"""The policy package's boundaries: what it imports, what it exports, no hidden inputs."""

from __future__ import annotations

import ast
from pathlib import Path

import warden.policy

PACKAGE = Path(warden.policy.__file__).parent
FORBIDDEN_IMPORTS = ("warden.store", "warden.web", "warden.execute", "httpx", "subprocess")
# Hidden inputs (STYLE.md, "Do not"): the clock and the environment come from the caller.
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "getenv"}


def _modules() -> list[Path]:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) >= 5
    return modules


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_policy_imports_nothing_from_store_web_execute_or_io_libraries() -> None:
    for module in _modules():
        for name in _imported(ast.parse(module.read_text(), str(module))):
            for forbidden in FORBIDDEN_IMPORTS:
                assert name != forbidden and not name.startswith(forbidden + "."), (
                    f"{module.name} imports {name}"
                )


def test_policy_reads_no_clock_and_no_environment() -> None:
    for module in _modules():
        tree = ast.parse(module.read_text(), str(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr not in FORBIDDEN_CALLS, f"{module.name}:{node.lineno}"
                assert node.attr != "environ", f"{module.name}:{node.lineno}"


def test_the_public_api_is_exactly_all() -> None:
    public = {name for name in vars(warden.policy) if not name.startswith("_")}
    assert public == set(warden.policy.__all__)
    for name in (
        "Policy", "load_policy", "load_policy_text", "default_policy", "parse_proposal",
        "proposal_json_schema", "decide", "lint_policy",
    ):  # fmt: skip
        assert name in warden.policy.__all__
