"""Sharded tables: one chain per writer, read as one table.

A run started with a shard id (``init(shard=...)``, or ``RANK`` of a multi-process job)
commits table ``key`` to its own chain, the internal table ``_shard/<shard>/<key>``, so
writers never contend (docs/format.md, "Shards"). Readers find the shards by their
markers and union them: shards in id order, each shard's rows in its own order.
A step selects consistently across shards (every shard at its newest version logged at
or before the step); version numbers belong to one shard.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tablelog.errors import NotFoundError
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
SHARD_COLUMN = "_shard"

_THREADS = 16

__all__ = ["SHARD_COLUMN", "check_sharded_selector", "find_shards", "shard_ref", "shard_states"]


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
        if step is None:
            return shard, sref, load_version(sref, latest)
        try:
            return shard, sref, load_version(sref, version_at_step(sref, step, latest))
        except NotFoundError:
            return None

    with ThreadPoolExecutor(max(1, min(_THREADS, len(shards)))) as pool:
        found = list(pool.map(one, shards))
    return [f for f in found if f is not None]


def check_sharded_selector(ref: TableRef, shards: list[str], **given: int | None) -> None:
    """Refuse selectors that name one shard's chain, with what to use instead."""
    for name, value in given.items():
        if value is not None:
            shown = ", ".join(shards[:5]) + (", ..." if len(shards) > 5 else "")
            raise ValueError(
                f"table {ref.path} is sharded ({len(shards)} shards: {shown}); {name}= numbers "
                f"belong to one shard: pass shard=... with {name}=, or select by step="
            )
