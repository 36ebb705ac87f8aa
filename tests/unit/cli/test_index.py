"""``faust -A app index``: prebuild a two-tower version's index, or say why not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec

from devtools.catalog import write_score_version
from tests.support.two_tower import write_small_two_tower


def run_index(root: Path, name: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STREAMREC_MODEL_DIR": str(root), "STREAMREC_MODEL_NAME": name,
           "STREAMREC_DATA_DIR": str(root / "data")}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "faust", "-A", "app", "index", "--threads", "1"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_the_index_is_written_recorded_and_its_recall_printed(tmp_path: Path) -> None:
    version_dir, catalog = write_small_two_tower(tmp_path, n_items=2000)
    done = run_index(tmp_path, "tt")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("tt/1: indexed 2,000 items of 16 dims in ")
    assert f"wrote {version_dir / 'item_vectors.faiss'} (" in lines[0]
    assert lines[0].endswith("and recorded it in the manifest (retrieval.index_file)")
    assert lines[1].startswith(
        "recall@10 of the index's own top 10 against exact, 500 item vectors as queries: "
    )
    assert "; as many means of two items' vectors (users of two tastes): " in lines[1]
    assert "; at STREAMREC_RETRIEVAL_PROBES=6 (serving re-scores" in lines[1]
    manifest = msgspec.json.decode((version_dir / "model-settings.json").read_bytes())
    assert manifest["retrieval"]["index_file"] == "item_vectors.faiss"

    write_score_version(tmp_path, "sc", "1", catalog)
    refused = run_index(tmp_path, "sc")
    assert refused.returncode == 2
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith(f"streamrec: index: {tmp_path / 'sc' / '1'} is not a two-tower version")
    )
