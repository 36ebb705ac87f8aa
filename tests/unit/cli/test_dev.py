"""Dev commands outside a source checkout: one line saying what to do, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT


def test_a_dev_command_without_devtools_says_what_to_do(tmp_path: Path) -> None:
    probe = (
        "import sys; from pathlib import Path; "
        f"sys.path = [p for p in sys.path if p not in ('', {str(ROOT)!r})]; "
        "import app.cli.dev as dev; dev.CHECKOUT = Path(sys.argv[1]); "
        "dev.need_devtools('demo', broker=True)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "streamrec: demo is a development command (devtools is missing): run it from a source "
        "checkout with the dev-broker extra (pip install -e '.[dev-broker]'; make run and make "
        "bench do this)"
    ]


def test_in_a_checkout_the_dev_tools_load(tmp_path: Path) -> None:
    probe = (
        "import sys; "
        f"sys.path = [p for p in sys.path if p not in ('', {str(ROOT)!r})]; "
        "import app.cli.dev as dev; dev.need_devtools('bench', broker=True); "
        "import devtools.bench.runner; print(devtools.__file__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(ROOT / "devtools" / "__init__.py")
