"""Where retrain may write: the workers' registry, but not a checkout's committed models/
unless asked (``--into-source-tree``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.errors import OutputInSourceTree
from app.training.destination import check_destination, tracked_by_git
from tests.support.paths import ROOT


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})  # fmt: skip


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git checkout with a committed models/ and an ignored var/models."""
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("var/\n")
    (tmp_path / "models" / "itemsvd" / "1").mkdir(parents=True)
    (tmp_path / "models" / "itemsvd" / "1" / "model-settings.json").write_text("{}")
    (tmp_path / "var" / "models").mkdir(parents=True)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "models")
    return tmp_path


def test_only_a_directory_git_tracks_files_in_is_the_source_tree(checkout: Path) -> None:
    assert tracked_by_git(checkout / "models")
    assert tracked_by_git(checkout / "models" / "itemsvd")
    assert not tracked_by_git(checkout / "var" / "models")  # ignored: a deployment's registry
    assert not tracked_by_git(checkout / "nothing-yet")
    assert not tracked_by_git(checkout.parent)  # outside any work tree


def test_the_committed_directory_needs_the_flag(checkout: Path) -> None:
    with pytest.raises(OutputInSourceTree, match="--into-source-tree"):
        check_destination(checkout / "models", into_source_tree=False)
    check_destination(checkout / "models", into_source_tree=True)
    check_destination(checkout / "var" / "models", into_source_tree=False)


def test_retrain_into_the_checkouts_models_is_refused_in_one_line_before_any_work(
    tmp_path: Path,
) -> None:
    """From the checkout with the default STREAMREC_MODEL_DIR (models): exit 2, one line, and
    no broker is asked (none runs at the address given)."""
    if not tracked_by_git(ROOT / "models"):
        pytest.skip("not run from a git checkout")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMREC_")}
    env.update(STREAMREC_BROKER="kafka://127.0.0.1:9", STREAMREC_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "faust", "-A", "app", "retrain"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("streamrec: retrain: STREAMREC_MODEL_DIR=models is the source ")
    assert line.endswith("or pass --into-source-tree to write there anyway")
