"""Where the repository's files are, for tests that read them or run something from the root."""

from __future__ import annotations

from devtools.processes import PROJECT_ROOT

__all__ = ["CONFIGURATION_DOC", "DEPLOY", "DOCS", "MKDOCS", "MODELS", "README", "ROOT"]

ROOT = PROJECT_ROOT  # the checkout devtools starts workers in, so one definition of the root
MODELS = ROOT / "models"
DEPLOY = ROOT / "deploy"
README = ROOT / "README.md"
DOCS = ROOT / "docs"  # the documentation site's pages
MKDOCS = ROOT / "mkdocs.yml"  # the site's configuration: its nav lists every page
CONFIGURATION_DOC = DOCS / "configuration.md"  # the settings, one table per scope
