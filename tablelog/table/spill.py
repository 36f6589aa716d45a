"""Rows of a Table that are committed and were dropped from memory.

An INCREMENTAL Table logged every step would otherwise hold every row it ever logged.
Once a log's rows are committed, the run hands the Table a loader for them (the
committed object), and the Table drops whole in-memory batches that committed rows
cover exactly; reading the Table (``data``, ``to_arrow``...) loads them back.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

#: Reads committed rows back, exactly as they were logged.
Loader = Callable[[], pa.Table]

_LOAD_THREADS = 16


class Spilled:
    """Rows ``0..rows-1`` of a Table, as loaders, plus committed ranges not yet used."""

    def __init__(self) -> None:
        self.rows = 0
        self._chunks: list[tuple[int, Loader]] = []
        #: (first row, rows, loader) of committed logs beyond ``rows``, by first row.
        self._landed: list[tuple[int, int, Loader]] = []

    def land(self, first_row: int, rows: int, loader: Loader) -> None:
        """Rows ``first_row..first_row+rows-1`` are committed and ``loader`` reads them."""
        if rows > 0 and first_row >= self.rows:
            self._landed.append((first_row, rows, loader))
            self._landed.sort(key=lambda r: r[0])

    def cover(self, rows: int) -> bool:
        """Take the committed ranges that exactly cover the next ``rows`` rows, if any."""
        end, at, used = self.rows + rows, self.rows, 0
        for first, n, _ in self._landed:
            if first < at:  # the same rows committed twice (two keys): either will do
                used += 1
                continue
            if first != at or at + n > end:
                break
            at += n
            used += 1
            if at == end:
                break
        if at != end:
            return False
        for first, n, loader in self._landed[:used]:
            if first >= self.rows:
                self._chunks.append((n, loader))
                self.rows += n
        del self._landed[:used]
        return True

    def load(self, schema: pa.Schema) -> list[pa.Table]:
        """Every spilled row, in order, with ``schema`` (the Table's current one)."""
        loaders = [loader for _, loader in self._chunks]
        if len(loaders) > 1:
            with ThreadPoolExecutor(min(_LOAD_THREADS, len(loaders))) as pool:
                tables = list(pool.map(lambda load: load(), loaders))
        else:
            tables = [load() for load in loaders]
        return [t if t.schema == schema else t.cast(schema) for t in tables]
