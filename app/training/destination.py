"""Where ``retrain`` may write: the workers' registry (STREAMREC_MODEL_DIR), unless that is
the source checkout's committed ``models/``.

A retrained version is learned from a deployment's traffic: it belongs with that deployment's
models, not in the git tree (where it shows as untracked files, can be committed by accident,
and is lost to a clean checkout). The workers read STREAMREC_MODEL_DIR, so that is where a
version must land to be served; when it is a directory git tracks files in, the write needs
``--into-source-tree``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from app.errors import OutputInSourceTree

__all__ = ["check_destination", "tracked_by_git"]

logger = logging.getLogger(__name__)


def tracked_by_git(directory: Path) -> bool:
    """Does git track any file under ``directory``? False outside a git work tree, for a
    directory that does not exist yet, or where git is not installed (a deployment image)."""
    git = shutil.which("git")
    if git is None or not directory.is_dir():
        return False
    try:
        done = subprocess.run(
            [git, "-C", str(directory), "ls-files", "--", "."],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("cannot ask git whether it tracks %s: %s", directory, exc)
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def check_destination(model_dir: Path, *, into_source_tree: bool) -> None:
    """Raise ``OutputInSourceTree`` if ``model_dir`` is a committed directory of a git
    checkout and the caller did not ask to write there."""
    if into_source_tree or not tracked_by_git(model_dir):
        return
    raise OutputInSourceTree(
        f"STREAMREC_MODEL_DIR={model_dir} is the source checkout's committed model directory "
        "(git tracks files in it): a version retrained on a deployment's traffic does not "
        "belong there. Point STREAMREC_MODEL_DIR, for the workers and for retrain alike, at a "
        f"directory outside the checkout's tracked files (e.g. copy {model_dir} to "
        "var/models), or pass --into-source-tree to write there anyway"
    )
