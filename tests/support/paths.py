"""Where the repository's files are, for tests that read them or run something from the root."""

from __future__ import annotations

from devtools.processes import PROJECT_ROOT

__all__ = ["DEPLOY", "MODELS", "README", "ROOT"]

ROOT = PROJECT_ROOT  # the checkout devtools starts workers in, so one definition of the root
MODELS = ROOT / "models"
DEPLOY = ROOT / "deploy"
README = ROOT / "README.md"
