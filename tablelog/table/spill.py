"""Rows of a Table that are committed and were dropped from memory.

An INCREMENTAL Table logged every step would otherwise hold every row it ever logged.
Once a log's rows are committed, the run hands the Table a loader for them (the
committed object), and the Table drops whole in-memory batches that committed rows
cover exactly; reading the Table (``data``, ``to_arrow``...) loads them back.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

#: Reads committed rows back, exactly as they were logged.
Loader = Callable[[], pa.Table]

_LOAD_THREADS = 16
#: Committed ranges kept while the Table's first batch waits for its own (past this,
#: later ranges are not kept: their rows just stay in memory).
_MAX_LANDED = 10_000


class Spilled:
    """Rows ``0..rows-1`` of a Table, as loaders, plus committed ranges not yet used."""

    def __init__(self) -> None:
        self.rows = 0
        self._chunks: list[tuple[int, Loader]] = []
        #: (first row, rows, loader) of committed logs beyond ``rows``, by first row.
        self._landed: list[tuple[int, int, Loader]] = []

    def land(self, first_row: int, rows: int, loader: Loader) -> None:
        """Rows ``first_row..first_row+rows-1`` are committed and ``loader`` reads them."""
        if first_row + rows > self.rows and len(self._landed) < _MAX_LANDED:
            bisect.insort(self._landed, (first_row, rows, loader), key=lambda r: r[0])

    def cover(self, rows: int) -> bool:
        """Take committed ranges that cover the next ``rows`` rows, if there are such;
        parts of ranges are read from the same objects (the same rows logged under
        two keys, or a whole Table logged again under a new key)."""
        if not self._landed or self._landed[0][0] > self.rows:
            return False  # the next rows' commit has not landed (or never will)
        end, at = self.rows + rows, self.rows
        taken: list[tuple[int, Loader]] = []
        left: list[tuple[int, int, Loader]] = []
        for first, n, loader in self._landed:
            if first + n <= at:
                continue  # these rows are covered already
            if first > at or at == end:
                left.append((first, n, loader))
                continue
            skip = at - first
            use = min(n - skip, end - at)
            taken.append((use, functools.partial(_sliced, loader, skip, use)))
            at += use
            if first + n > at:  # the rest of the range belongs to later rows
                left.append((first, n, loader))
        if at < end:
            return False
        self._chunks.extend(taken)
        self.rows = end
        self._landed = left
        return True

    def rewrite(self, change: Callable[[pa.Table], pa.Table]) -> None:
        """Apply ``change`` to every released row (when they are read back)."""
        self._chunks = [(n, functools.partial(_changed, load, change)) for n, load in self._chunks]
        self._landed = [
            (first, n, functools.partial(_changed, load, change)) for first, n, load in self._landed
        ]

    def load(self, schema: pa.Schema, rows: int | None = None) -> list[pa.Table]:
        """Every spilled row (or the first chunks holding ``rows`` rows), in order, with
        ``schema`` (the Table's current one)."""
        loaders, have = [], 0
        for n, loader in self._chunks:
            if rows is not None and have >= rows:
                break
            loaders.append(loader)
            have += n
        if len(loaders) > 1:
            with ThreadPoolExecutor(min(_LOAD_THREADS, len(loaders))) as pool:
                tables = list(pool.map(lambda load: load(), loaders))
        else:
            tables = [load() for load in loaders]
        return [t if t.schema == schema else t.cast(schema) for t in tables]


def _sliced(loader: Loader, offset: int, length: int) -> pa.Table:
    table = loader()
    return table if offset == 0 and length == table.num_rows else table.slice(offset, length)


def _changed(loader: Loader, change: Callable[[pa.Table], pa.Table]) -> pa.Table:
    return change(loader())
