"""MovieLens-100k as shipped inside the ``recbole==1.2.1`` wheel (read as files, never imported).

Install with ``pip install --no-deps recbole==1.2.1``: recbole's own imports need torch, and
nothing here runs its code.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
from pathlib import Path

import msgspec

from app.errors import StreamrecError

__all__ = ["DatasetNotFound", "Rating", "dataset_digest", "dataset_dir", "load_ratings"]


_SUBDIR = ("dataset_example", "ml-100k")


class DatasetNotFound(StreamrecError):
    """ml-100k is not installed.

    Operator action: ``pip install --no-deps recbole==1.2.1`` (``make install`` does it).
    """


class Rating(msgspec.Struct, frozen=True, array_like=True):
    """One ml-100k interaction."""

    user_id: str
    item_id: str
    rating: float
    ts: int


def dataset_dir() -> Path:
    """The folder holding ml-100k.inter / .item / .user inside the installed wheel."""
    # find_spec locates the package without executing recbole/__init__.py (which needs torch).
    spec = importlib.util.find_spec("recbole")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for base in locations:
        path = Path(base).joinpath(*_SUBDIR)
        if (path / "ml-100k.inter").is_file():
            return path
    raise DatasetNotFound("ml-100k not found: pip install --no-deps recbole==1.2.1")


def dataset_digest() -> str:
    """sha256 of the interactions file: names exactly which data a model was trained on."""
    return hashlib.sha256((dataset_dir() / "ml-100k.inter").read_bytes()).hexdigest()


def load_titles() -> dict[str, str]:
    """Each ml-100k item's title with its year ("Toy Story (1995)"), for people to read."""
    titles = {}
    with (dataset_dir() / "ml-100k.item").open(newline="", encoding="latin-1") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader)  # header: item_id:token movie_title:token_seq release_year:token class:...
        for row in reader:
            if len(row) >= 3 and row[0]:
                titles[row[0]] = f"{row[1]} ({row[2]})" if row[2] else row[1]
    return titles


def load_ratings() -> list[Rating]:
    """All 100k interactions in time order; equal timestamps keep the file's order.

    That tie rule is RecBole's, so splits match the published protocol: ordering ties by
    item id instead would make the held-out item the highest id of its second, which alone
    moves most-popular HR@10 from 0.085 to 0.050.
    """
    with (dataset_dir() / "ml-100k.inter").open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader)  # header: user_id:token item_id:token rating:float timestamp:float
        ratings = [Rating(u, i, float(r), int(float(t))) for u, i, r, t in reader]
    ratings.sort(key=lambda r: r.ts)  # stable: ties stay in file order
    return ratings
