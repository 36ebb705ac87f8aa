"""Apply streamrec's Faust patches, once the installed versions are the ones they fit."""

from __future__ import annotations

from app.worker.faust_compat.consumer import tune_consumer
from app.worker.faust_compat.versions import check_versions

__all__ = ["install_patches"]


def install_patches(fetch_max_wait_ms: int) -> None:
    """Check the versions (CannotStart if they differ), then install the consumer changes."""
    check_versions()
    tune_consumer(fetch_max_wait_ms)
