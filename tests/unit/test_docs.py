"""The README's links: every relative one reaches a file, every #anchor a heading of its page,
and every documentation page it names is in the site's nav. (`make docs` checks the links
between the site's own pages: mkdocs.yml's validation settings make them errors.)"""

from __future__ import annotations

import re
from pathlib import Path

import markdown
import pytest

from tests.support.paths import DOCS, MKDOCS, README, ROOT

# [text](target) and ![alt](target); a target has no spaces (none of ours has a title).
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _relative_links(text: str) -> list[str]:
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def _anchors(page: Path) -> set[str]:
    """The ids of a page's headings, as the site renders them (Python-Markdown's toc)."""
    html = markdown.markdown(page.read_text(), extensions=["toc", "attr_list", "tables"])
    return set(re.findall(r'<h[1-6] id="([^"]+)"', html))


def _nav_pages() -> set[str]:
    """Every page mkdocs.yml's nav lists (``- Title: path.md`` or ``- path.md``)."""
    return set(re.findall(r"^\s*- (?:[^:\n]+: )?(\S+\.md)$", MKDOCS.read_text(), re.M))


LINKS = _relative_links(README.read_text())


def test_the_readme_links_to_the_documentation() -> None:
    # Guards the parsing below as much as the README: an empty list would pass every check.
    assert len(LINKS) > 20
    assert "docs/index.md" in LINKS and "docs/configuration.md" in LINKS


@pytest.mark.parametrize("target", LINKS)
def test_every_relative_readme_link_reaches_a_file_and_heading(target: str) -> None:
    path, _, anchor = target.partition("#")
    file = (ROOT / path) if path else README
    assert file.is_file(), f"README links to {target}: no such file"
    if anchor:
        assert file.suffix == ".md", target
        assert anchor in _anchors(file), f"README links to {target}: no such heading"


@pytest.mark.parametrize("target", [t for t in LINKS if t.startswith("docs/")])
def test_every_documentation_page_the_readme_names_is_in_the_site(target: str) -> None:
    page = Path(target.partition("#")[0]).relative_to("docs")
    if page.suffix == ".md":
        assert page.as_posix() in _nav_pages(), f"{target} is not in mkdocs.yml's nav"


def test_the_nav_lists_every_page_there_is() -> None:
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert _nav_pages() == pages
