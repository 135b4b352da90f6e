"""The README and docs/ point only at files in the repository (a clone from GitHub has
nothing beside it), and the payloads the tour posts are there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves_inside_the_repository(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside: {target}"
        assert resolved.exists(), f"{page.name} links to a missing file: {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_uses_a_path_outside_the_repository(page: Path) -> None:
    assert "../shared" not in page.read_text()


def test_the_files_the_tour_posts_are_shipped() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in re.findall(r"--data @(\S+)", readme):
        assert (ROOT / path).is_file(), path
