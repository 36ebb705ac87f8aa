"""A factory for the problems a set of STREAMREC_* variables is refused with."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.errors import InvalidSettings
from app.settings import load_settings


@pytest.fixture
def problems_of(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """``problems_of(STREAMREC_X="...", ...)``: set the variables (for the rest of the test),
    load the settings and return the lines they are refused with."""

    def problems(**env: str) -> list[str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(InvalidSettings) as caught:
            load_settings()
        return caught.value.problems

    return problems
