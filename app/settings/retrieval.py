"""Retrieval for two-tower versions: when the ANN index is used and its recall/speed knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.settings.base import Scope

__all__ = ["RetrievalSettings"]


class RetrievalSettings(Scope):
    """How a two-tower version's candidates are found among its item vectors."""

    retrieval_exhaustive_below: int = Field(default=5_000, ge=0)
    """A two-tower version with fewer items than this scores every item exactly (no index):
    exact, and within a few ms of the index there (batch of 256, 64 dims, one thread: 6.4 ms
    against IVF's 1.9 at 5,000 items; 1.1 against 1.4 at 1,000). 0: always the index."""

    retrieval_index: Literal["ivf", "hnsw"] = "ivf"
    """The index built at load or by ``faust -A app index``: ``ivf`` (faiss inverted lists:
    holds its recall for users of several tastes, whose query falls between clusters of
    items) or ``hnsw`` (usearch graph: loses those users' items on clustered catalogs unless
    EXPANSION_SEARCH exceeds a cluster's size). A prebuilt file is served as the kind it is."""

    retrieval_lists: int = Field(default=0, ge=0)
    """IVF: k-means lists of an index built at load or prebuilt (0 = about the square
    root of the catalog size: 316 lists at 100k items, 1,000 at a million)."""

    retrieval_probes: int = Field(default=6, ge=1, le=65536)
    """IVF: lists searched per query, exactly: the recall/speed knob of serving (read at
    load, so it applies to prebuilt files too)."""

    retrieval_connectivity: int = Field(default=16, ge=2, le=256)
    """HNSW: graph degree (usearch ``connectivity``) of an index built at load: higher is
    better recall and more memory and build time."""

    retrieval_expansion_add: int = Field(default=64, ge=1, le=4096)
    """HNSW: candidate list while building (``expansion_add``): higher is a better graph, a
    slower build."""

    retrieval_expansion_search: int = Field(default=64, ge=1, le=4096)
    """HNSW: candidate list per query (``expansion_search``; at least the candidates asked):
    the recall/speed knob of serving."""

    retrieval_threads: int = Field(default=1, ge=0)
    """Threads of one batched index search (0 = all cores)."""

    retrieval_build_threads: int = Field(default=1, ge=0)
    """Threads that build an index at load (0 = all cores). 1 keeps a worker that swaps
    versions serving at full speed; prebuild large indexes with ``faust -A app index``."""
