"""``compact``: the many small fragments of a table's latest version (of each shard of
a sharded table) rewritten into a few large Parquet objects, committed as an ordinary
new version (the core is :mod:`tablelog.data.compaction`).

The new version holds the same rows in the same order; older versions keep reading
exactly as before (their objects are untouched). INCREMENTAL rows keep their
increment numbers in an ``_increment`` column of the compacted objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tablelog.data.compaction import DEFAULT_TARGET_ROWS, REPLANS, CompactResult, compact_table
from tablelog.errors import InvalidArgumentError, NotFoundError
from tablelog.format import paths
from tablelog.format.handle import Root, open_table
from tablelog.progress import Progress

__all__ = ["DEFAULT_TARGET_ROWS", "REPLANS", "CompactResult", "compact"]


def compact(
    path: str,
    *,
    root: Root = None,
    storage_options: Mapping[str, Any] | None = None,
    target_rows: int = DEFAULT_TARGET_ROWS,
    min_fragments: int = 2,
    progress: Progress | None = None,
) -> CompactResult:
    """Rewrite the latest version of ``project/run/key`` into few large objects.

    Nothing is written when the version has fewer than ``min_fragments`` fragments,
    none of which keeps columns in several objects (``add_column``), or when it holds
    one increment per version (``summary="none"``). Writers appending at the
    same time are rebased onto the compacted version; another compaction or a replace
    in between is a :class:`ConcurrentChangeError`. ``progress`` is called as fragments
    are read and objects written (:mod:`tablelog.progress`).
    """
    if target_rows < 1:
        raise InvalidArgumentError(f"target_rows must be >= 1, got {target_rows}")
    ref = open_table(path, root=root, storage_options=storage_options)
    try:
        ref.latest()
    except NotFoundError:
        shards = ref.shards()
        if not shards:
            raise
        return _compact_shards(ref.path, shards, root, storage_options, target_rows,
                               min_fragments, progress)  # fmt: skip
    return compact_table(
        ref, target_rows=target_rows, min_fragments=min_fragments, progress=progress
    )


def _compact_shards(
    path: str,
    shards: list[str],
    root: Root,
    storage_options: Mapping[str, Any] | None,
    target_rows: int,
    min_fragments: int,
    progress: Progress | None,
) -> CompactResult:
    """Every shard of a sharded table compacted on its own chain, in shard order (a
    shard whose first commit never landed is left out)."""
    project, run_id, key = path.split("/", 2)
    done: list[tuple[str, CompactResult]] = []
    for shard in shards:
        one = f"{project}/{run_id}/{paths.shard_key(shard, key)}"
        try:
            result = compact(one, root=root, storage_options=storage_options,
                             target_rows=target_rows, min_fragments=min_fragments,
                             progress=progress)  # fmt: skip
        except NotFoundError:
            continue  # marked, but nothing committed yet
        done.append((shard, result))
    return CompactResult(
        path=path,
        version=None,
        fragments_before=sum(r.fragments_before for _, r in done),
        fragments_after=sum(r.fragments_after for _, r in done),
        rows=sum(r.rows for _, r in done),
        bytes_written=sum(r.bytes_written for _, r in done),
        shards=tuple(done),
    )
