"""The top-K measurement script runs, and every kernel it times gives the exact answer."""

from __future__ import annotations

import pytest

from devtools.bench.topk import main


def test_a_small_run_prints_one_exact_row_per_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--sizes", "2000", "--batch", "16", "--repeats", "1"])
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines()]
    timed = [r for r in rows if len(r) == 8 and r[0] == "| 2,000"]
    assert len(timed) == 8 + 8 + 5  # random, clustered, clustered with the model call
    assert all(r[6] == "yes" for r in timed if "only" not in r[2]), timed
