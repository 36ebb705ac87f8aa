"""Importing streamrec's pure parts builds no app, patches nothing and imports no Faust."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = [
    "app", "app.records", "app.ingest", "app.features", "app.settings", "app.errors",
    "app.pipeline", "app.inference.batcher", "app.inference.manifest", "app.inference.scorer",
    "app.inference.registry", "app.inference.serving", "app.inference.rollout",
    "app.inference.cache", "app.training.train", "app.training.itemsvd",
    "app.devtools.bench.reference",
]  # fmt: skip


@pytest.mark.parametrize("module", PURE)
def test_importing_does_not_import_faust(module: str) -> None:
    probe = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'mode')); "
        "print(','.join(bad))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"{module} imports {done.stdout.strip()[:200]}"


def test_the_app_is_built_on_first_access_only() -> None:
    probe = (
        "import sys, app; assert 'app.main' not in sys.modules; "
        "import faust; assert isinstance(app.app, faust.App); print(app.app is app.app)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
