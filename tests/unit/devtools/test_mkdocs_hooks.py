"""The site's Markdown hook: a ``\\|`` in a table row's code span becomes ``|``, nothing else."""

from __future__ import annotations

from devtools.mkdocs_hooks import on_page_markdown, unescape_table_code_pipes


def test_a_pipe_escaped_for_github_in_a_table_code_span_is_plain_on_the_site() -> None:
    row = r"| `train [--algorithm itemsvd\|sasrec]` | trains \| a model | ``a \| b`` |"
    assert unescape_table_code_pipes(row) == (
        r"| `train [--algorithm itemsvd|sasrec]` | trains \| a model | ``a | b`` |"
    )


def test_text_outside_table_rows_is_left_alone() -> None:
    text = "`a \\| b` in a paragraph\n\n```\n`x \\| y`\n```\n"
    assert unescape_table_code_pipes(text) == text
    assert on_page_markdown(text, page=None) == text
