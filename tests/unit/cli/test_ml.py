"""Command-line checks made while the command line is parsed."""

from __future__ import annotations

import click
import pytest

from app.cli.ml import _seeds


def parsed(algorithm: str) -> click.Context:
    ctx = click.Context(click.Command("train"))
    ctx.params["algorithm"] = algorithm
    return ctx


def test_seeds_are_comma_separated_integers_for_the_hybrid_only() -> None:
    assert _seeds(parsed("hybrid"), "0, 1,2") == [0, 1, 2]
    assert _seeds(parsed("sasrec"), "") == []
    with pytest.raises(click.BadParameter, match="only with --algorithm hybrid"):
        _seeds(parsed("sasrec"), "0,1")
    with pytest.raises(click.BadParameter, match="not comma-separated integers"):
        _seeds(parsed("hybrid"), "0,x")
