"""The compaction core: a table's fragments rewritten into a few large Parquet objects
and committed as an ordinary new version (``operation: compact``).

The new version holds the same rows in the same order; older versions keep reading
exactly as before (their objects are untouched). INCREMENTAL rows keep their
increment numbers in an ``_increment`` column of the compacted objects. Used by
``maintenance.compact`` (the public ``compact``) and by a run's ``compact_at``.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from tablelog.data.frames import fragments_frame
from tablelog.data.groups import upload_group
from tablelog.data.parquet import read_group_rows
from tablelog.errors import ConcurrentChangeError
from tablelog.format import paths
from tablelog.format.arrow_types import type_from_json
from tablelog.format.chain import load_version, unmerged_fragments
from tablelog.format.commit import commit
from tablelog.format.handle import TableHandle
from tablelog.format.manifest import INCREMENT_COLUMN, Fragment
from tablelog.format.plan import Intent, NewFragment
from tablelog.format.state import TableState
from tablelog.progress import Progress

#: Rows per compacted object: large enough for fast scans, small enough to upload.
DEFAULT_TARGET_ROWS = 1_000_000


@dataclass(frozen=True, kw_only=True)
class CompactResult:
    """What :func:`compact` did."""

    path: str
    version: int | None
    fragments_before: int
    fragments_after: int
    rows: int
    bytes_written: int
    #: A sharded table: what compaction did to each shard (``version`` is then None;
    #: the counts are the shards' sums).
    shards: tuple[tuple[str, CompactResult], ...] = ()

    @property
    def compacted(self) -> bool:
        return self.version is not None or any(r.compacted for _, r in self.shards)


def compact_table(
    ref: TableHandle,
    *,
    target_rows: int = DEFAULT_TARGET_ROWS,
    min_fragments: int = 2,
    progress: Progress | None = None,
) -> CompactResult:
    """Rewrite the latest version of the (unsharded) table ``ref`` into few large
    objects; see :func:`tablelog.compact` for when nothing is written. A writer that
    changed the rewritten rows meanwhile makes it start over (up to ``REPLANS`` times),
    then a :class:`~tablelog.errors.ConcurrentChangeError`."""
    for attempt in range(REPLANS + 1):
        try:
            return _compact_once(ref, target_rows, min_fragments, progress)
        except _Stale as e:
            if attempt == REPLANS:
                raise ConcurrentChangeError(
                    f"table {ref.path} kept changing while compacting ({e}); run compact again"
                ) from e
    raise AssertionError("unreachable")


#: Times a compaction starts over when a writer changed the rows it rewrote.
REPLANS = 3


class _Stale(Exception):
    """The fragments a compaction rewrote changed under it (a writer added columns)."""


def _compact_once(
    ref: TableHandle, target_rows: int, min_fragments: int, progress: Progress | None
) -> CompactResult:
    state = load_version(ref, ref.latest())
    frags = state.fragments
    # Rows whose columns are spread over several objects (add_column) are always worth
    # rewriting: files() and other Parquet readers need one object per rows.
    split = any(len(f.groups) > 1 for f in frags)
    if state.separate or (len(frags) < max(min_fragments, 1) and not split):
        return CompactResult(
            path=ref.path,
            version=None,
            fragments_before=len(frags),
            fragments_after=len(frags),
            rows=state.rows,
            bytes_written=0,
        )
    # Format 2 keeps each row's increment wherever rows of several are in one object
    # (docs/format.md, "Fragments"), so _history's compacted objects store it too.
    fv2 = state.format_version == 2
    tag = ref.tags_increments(state) or (fv2 and paths.is_history(ref.key))
    if progress is not None:
        progress("read fragments", 0, len(frags))
    frame = fragments_frame(ref.store, state.schema, frags, tag_increments=tag).collect()
    if progress is not None:
        progress("read fragments", len(frags), len(frags))
    fields = [pa.field(c.name, type_from_json(c.arrow)) for c in state.schema]
    if tag:
        fields.append(pa.field(INCREMENT_COLUMN, pa.int64()))
    arrow = frame.to_arrow().cast(pa.schema(fields))
    new: list[NewFragment] = []
    written = 0
    starts = range(0, arrow.num_rows, target_rows)
    for start in starts:
        part = arrow.slice(start, target_rows)
        group = upload_group(ref, part, row_group_rows=read_group_rows(part.num_rows))
        written += group.size
        first, last = _increments_of(part, frags, start) if fv2 else (None, None)
        new.append(
            NewFragment(rows=part.num_rows, groups=(group,), increment=first, last_increment=last)
        )
        if progress is not None:
            progress("write objects", len(new), len(starts))
    compacted = tuple(f.id for f in frags)
    original = tuple(frags)
    writer = f"{socket.gethostname()}:{os.getpid()}:compact-{secrets.token_hex(4)}"

    def intent(current: TableState) -> Intent:
        frags = current.fragments
        if tuple(f.id for f in frags[: len(compacted)]) != compacted:
            # A writer may have merged some of them with its newer logs (docs/format.md,
            # "Merged fragments"): the merge's own fragments still hold those rows.
            frags = unmerged_fragments(ref, current)
        if tuple(f.id for f in frags[: len(compacted)]) != compacted:
            raise ConcurrentChangeError(
                f"table {ref.path} was replaced or compacted by another writer while "
                "compacting; run compact again"
            )
        if frags[: len(compacted)] != original:
            # Same fragments, other contents: a MUTABLE writer added column groups to
            # rows this compaction rewrote without them. Start over from the new version.
            changed = next(f.id for f, o in zip(frags, original, strict=False) if f != o)
            raise _Stale(f"fragment {changed} gained columns in version {current.version}")
        kept = tuple(
            NewFragment(
                rows=f.rows, groups=f.groups, increment=f.increment, last_increment=f.last_increment
            )
            for f in frags[len(compacted) :]
        )
        return Intent(
            mode=current.mode or state.mode or "IMMUTABLE",
            writer=writer,
            step=current.step,
            schema=current.schema,
            replace=True,
            add=(*new, *kept),
            separate=current.separate,
            extra=(("operation", "compact"),),
        )

    after = commit(ref, state, intent)
    ref.write_hint(after.version)  # readers open the compacted version in a few requests
    return CompactResult(
        path=ref.path,
        version=after.version,
        fragments_before=len(frags),
        fragments_after=len(after.fragments),
        rows=after.rows,
        bytes_written=written,
    )


def _increments_of(part: pa.Table, frags: tuple[Fragment, ...], start: int) -> tuple[int, int]:
    """Format 2: the increments the rows of ``part`` (rows ``start…`` of ``frags``)
    belong to, as a range: from their ``_increment`` where it is stored, else from
    the fragments they come from (MUTABLE, IMMUTABLE: provenance only)."""
    if INCREMENT_COLUMN in part.column_names and part.num_rows:
        low_high = pc.min_max(part.column(INCREMENT_COLUMN))
        return int(low_high["min"].as_py()), int(low_high["max"].as_py())
    end, at = start + part.num_rows, 0
    first: int | None = None
    last = 0
    for f in frags:
        if (at < end and start < at + f.rows) or (f.rows == 0 and start <= at < end):
            first = f.increment if first is None else min(first, f.increment)
            last = max(last, f.increment if f.last_increment is None else f.last_increment)
        at += f.rows
    if first is None:  # (no rows: never uploaded as a fragment of its own)
        return 0, 0
    return first, last
