"""Sharded tables: one chain per writer, read as one table.

A run started with a shard id (``init(shard=...)``, or ``RANK`` of a multi-process job)
commits table ``key`` to its own chain, the internal table ``_shard/<shard>/<key>``, so
writers never contend (docs/format.md, "Shards"). Readers find the shards by their
markers and union them: shards in id order, each shard's rows in its own order.
A step selects consistently across shards (every shard at its newest version logged at
or before the step); version numbers belong to one shard.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from tablelog.errors import InvalidArgumentError, TableError
from tablelog.format import paths
from tablelog.format.chain import (
    TableRef,
    find_shards,
    latest_version,
    load_version,
    shard_ref,
    version_at_step,
)
from tablelog.format.state import TableState

#: The column naming each row's shard in a sharded table's rows.
SHARD_COLUMN = paths.SHARD_COLUMN

_THREADS = 16

__all__ = [
    "SHARD_COLUMN",
    "check_sharded_selector",
    "find_shards",
    "shard_ref",
    "shard_states",
    "with_shard_column",
]


def shard_states(
    ref: TableRef, shards: list[str], *, step: int | None
) -> list[tuple[str, TableRef, TableState]]:
    """Each shard at its newest version (at or before ``step`` if given), in shard
    order; shards with no such version are left out. Shards are read in parallel."""

    def one(shard: str) -> tuple[str, TableRef, TableState] | None:
        sref = shard_ref(ref, shard)
        latest = latest_version(sref)
        if latest < 0:
            return None  # marked, but its first commit never landed
        version = latest if step is None else version_at_step(sref, step, latest)
        if version < 0:
            return None  # nothing logged at or before the step
        return shard, sref, load_version(sref, version)

    with ThreadPoolExecutor(max(1, min(_THREADS, len(shards)))) as pool:
        found = list(pool.map(one, shards))
    return [f for f in found if f is not None]


def with_shard_column(
    ref: TableRef, frame: pl.LazyFrame, names: Sequence[str], shard: str
) -> pl.LazyFrame:
    """``frame`` (with columns ``names``) and the ``_shard`` column; a table with a
    column of that name of its own (logged before runs refused it) is refused, as its
    values would be replaced."""
    if SHARD_COLUMN in names:
        raise TableError(
            f"table {ref.path} has a column {SHARD_COLUMN!r} of its own, and reads of a "
            f"sharded table name each row's shard in that column: read the shard's chain "
            f"by its path ({ref.project}/{ref.run_id}/{paths.shard_key(shard, ref.key)}), "
            "which adds no column"
        )
    return frame.with_columns(pl.lit(shard, dtype=pl.String).alias(SHARD_COLUMN))


def check_sharded_selector(ref: TableRef, shards: list[str], **given: int | None) -> bool:
    """Whether selectors that name one shard's chain are given: fine for a table with one
    shard (a job where only rank 0 logged), refused with what to use instead otherwise."""
    named = [name for name, value in given.items() if value is not None]
    if named and len(shards) > 1:
        shown = ", ".join(shards[:5]) + (", ..." if len(shards) > 5 else "")
        raise InvalidArgumentError(
            f"table {ref.path} is sharded ({len(shards)} shards: {shown}); {named[0]}= "
            f"numbers belong to one shard: pass shard=... with {named[0]}= (or read the "
            f"path {ref.project}/{ref.run_id}/{paths.shard_key(shards[0], ref.key)}), or "
            "select by step="
        )
    return bool(named)
