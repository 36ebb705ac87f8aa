"""Command-line checks made while the command line is parsed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from app.cli.ml import _seeds


def parsed(algorithm: str) -> click.Context:
    ctx = click.Context(click.Command("train"))
    ctx.params["algorithm"] = algorithm
    return ctx


def test_seeds_are_comma_separated_integers_for_the_hybrid_only() -> None:
    assert _seeds(parsed("hybrid"), "0, 1,2") == [0, 1, 2]
    assert _seeds(parsed("hybrid-rank"), "1,2") == [1, 2]  # the same hybrid, in two stages
    assert _seeds(parsed("sasrec"), "") == []
    with pytest.raises(click.BadParameter, match="only with --algorithm hybrid"):
        _seeds(parsed("sasrec"), "0,1")
    with pytest.raises(click.BadParameter, match="not comma-separated integers"):
        _seeds(parsed("hybrid"), "0,x")


def test_training_sasrec_or_hybrid_without_torch_says_to_install_the_extra(
    tmp_path: Path,
) -> None:
    """One line naming the fix, no traceback (``make run`` installs no PyTorch)."""
    probe = (
        "import sys; sys.modules['torch'] = None; "  # PyTorch not installed
        f"sys.argv = ['faust', '-A', 'app', 'train', '--algorithm', 'hybrid', "
        f"'--model-dir', {str(tmp_path)!r}]; "
        "from faust.cli.faust import cli; cli()"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
        env={**os.environ, "STREAMREC_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "streamrec: train: hybrid trains with PyTorch, which is not installed: install the "
        "train extra (pip install -e '.[train]'; make train does)"
    ]
    assert not any(tmp_path.glob("hybrid*"))
