"""Sharded tables: one chain per writer, read as one table.

A run started with a shard id (``init(shard=...)``, or ``RANK`` of a multi-process job)
commits table ``key`` to its own chain, the internal table ``_shard/<shard>/<key>``, so
writers never contend (docs/format.md, "Shards"). Readers find the shards by their
markers and union them (``format.handle`` resolves the shards): shards in id order,
each shard's rows in its own order.
A step selects consistently across shards (every shard at its newest version logged at
or before the step); version numbers belong to one shard.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tablelog.errors import TableError
from tablelog.format import paths
from tablelog.format.chain import TableRef

#: The column naming each row's shard in a sharded table's rows.
SHARD_COLUMN = paths.SHARD_COLUMN

__all__ = ["SHARD_COLUMN", "with_shard_column"]


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
