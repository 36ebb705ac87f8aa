"""MkDocs hooks for the documentation site (mkdocs.yml's ``hooks``).

A ``|`` inside a code span of a table row is written ``\\|`` so that GitHub, which splits
table cells before it reads code spans, shows the page right. Python-Markdown reads code spans
first and would show the backslash; the hook takes it out of code spans in table rows only.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["on_page_markdown", "unescape_table_code_pipes"]

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def unescape_table_code_pipes(markdown: str) -> str:
    """The page's Markdown with ``\\|`` turned into ``|`` in the code spans of table rows."""
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("|") and "\\|" in line:
            lines[i] = _CODE_SPAN.sub(lambda m: m.group(0).replace("\\|", "|"), line)
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs event: called with each page's Markdown before it is rendered."""
    return unescape_table_code_pipes(markdown)
