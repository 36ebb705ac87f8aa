"""Unit tests exercise the mechanics with the light model (``itemsvd``: loads in a fraction of
a second, cheap batches, and the name their assertions use); the default model's relevance
is tested in ``training/test_evaluate.py`` and through a worker in the integration tests."""

from __future__ import annotations

import pytest

from tests.support.deployment import LIGHT_MODEL


@pytest.fixture(autouse=True)
def light_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_MODEL_NAME", LIGHT_MODEL)
