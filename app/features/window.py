"""The window every model input reads: each user's last ``max_len`` events of known items.

Vectorised over the whole batch: this runs on every micro-batch, so the per-event work is a
few C-level passes (``np.fromiter`` over ``map(vocab.get, ...)`` and numpy), not Python loops.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["Window", "known_window"]

Ints = npt.NDArray[np.int64]


class Window(NamedTuple):
    """The window's events of a batch, one array entry per event."""

    rows: Ints
    """Output row of each event (its user's index in the batch)."""
    columns: Ints
    """Output column: left-padded, so a row's newest known event is at ``max_len - 1``."""
    ids: Ints
    """Vocabulary id of the event's item."""
    from_end: Ints
    """Position counted from the end of the user's history: 1 for the newest event."""
    span: Ints
    """Per row, how many of the newest events were looked up: the window lies within them, so
    a per-event field aligned with the history needs only its last ``span`` values."""


class _Scan(NamedTuple):
    rows: Ints
    rank: Ints
    """1 for the newest known item of its chunk."""
    ids: Ints
    from_end: Ints
    """1 for the newest item of its chunk."""
    found: Ints
    """Per chunk, its known items."""


def _scan(chunks: Sequence[Sequence[str]], vocab: Mapping[str, int], wanted: Ints) -> _Scan:
    """The newest ``wanted[row]`` known items of each chunk, in one pass over all chunks."""
    lengths = np.fromiter(map(len, chunks), dtype=np.int64, count=len(chunks))
    ids = np.fromiter(
        map(vocab.get, itertools.chain.from_iterable(chunks), itertools.repeat(0)),
        dtype=np.int64,
        count=int(lengths.sum()),
    )
    # Unknown items (not in this model's vocabulary) carry no signal for it: skipped, so the
    # window holds the last ``max_len`` events the model can read.
    known = ids != 0
    before = np.zeros(len(ids) + 1, dtype=np.int64)  # known items before each position
    np.cumsum(known, out=before[1:])
    ends = np.cumsum(lengths)
    rows = np.repeat(np.arange(len(chunks), dtype=np.int64), lengths)
    rank = before[ends][rows] - before[:-1]  # of a known item: 1 = its chunk's newest
    flat = np.flatnonzero(known & (rank <= wanted[rows]))
    rows = rows[flat]
    found = before[ends] - before[ends - lengths]
    return _Scan(rows, rank[flat], ids[flat], ends[rows] - flat, found)


def known_window(
    histories: Sequence[Sequence[str]], vocab: Mapping[str, int], max_len: int
) -> Window:
    """The last ``max_len`` events of known items of each history (oldest first)."""
    lengths = np.fromiter(map(len, histories), dtype=np.int64, count=len(histories))
    # Item strings are scattered in memory, so every one looked up costs (as the loop this
    # replaced knew, stopping at the ``max_len``-th known item): look up the newest
    # ``max_len`` items of each row, then, for rows where some were unknown, as many older
    # ones as the share known so far says they need, then the rest. At most three passes.
    reach = np.zeros(len(histories), dtype=np.int64)  # newest items looked up, per row
    found = np.zeros(len(histories), dtype=np.int64)  # known items among them
    pending = np.arange(len(histories), dtype=np.int64)
    step = np.minimum(lengths, max_len)
    parts: list[tuple[Ints, Ints, Ints, Ints]] = []
    for attempt in range(3):
        stops = lengths[pending] - reach[pending]
        starts = np.maximum(stops - step, 0)
        chunks = list(
            map(
                operator.getitem,
                map(histories.__getitem__, pending.tolist()),
                map(slice, starts.tolist(), stops.tolist()),
            )
        )
        scan = _scan(chunks, vocab, max_len - found[pending])
        rows = pending[scan.rows]
        parts.append(
            (rows, max_len - found[rows] - scan.rank, scan.ids, reach[rows] + scan.from_end)
        )
        found[pending] += scan.found
        reach[pending] += stops - starts
        pending = pending[(found[pending] < max_len) & (reach[pending] < lengths[pending])]
        if not len(pending):
            break
        if attempt == 0:
            need, seen, known = max_len - found[pending], reach[pending], found[pending]
            # 1.5x the estimate, so few rows need the last pass; none known yet: as many again.
            step = np.where(known > 0, -(-3 * need * seen // np.maximum(2 * known, 1)), seen)
        else:
            step = lengths[pending] - reach[pending]
    rows, columns, ids, from_end = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
    return Window(rows, columns, ids, from_end, reach)
