"""Trending settings: windows that tile and are kept at least as long as they are wide."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"STREAMREC_TRENDING_WINDOW_S": "1000"}, "is not a multiple of"),
        ({"STREAMREC_TRENDING_RETENTION_S": "600"}, "keep at least a window"),
    ],
)
def test_trending_windows_that_do_not_fit_are_refused_naming_both_settings(
    problems_of: Callable[..., list[str]], env: dict[str, str], said: str
) -> None:
    (problem,) = problems_of(**env)
    assert said in problem and "STREAMREC_TRENDING_WINDOW_S=" in problem
