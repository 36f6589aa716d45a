"""Compaction: the many small fragments of a table's latest version rewritten into a
few large Parquet objects, committed as an ordinary new version.

The new version holds the same rows in the same order; older versions keep reading
exactly as before (their objects are untouched). INCREMENTAL rows keep their
increment numbers in an ``_increment`` column of the compacted objects.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tablelog.errors import CommitConflictError, NotFoundError
from tablelog.format import paths
from tablelog.format.chain import TableRef, find_shards, load_version, unmerged_fragments
from tablelog.format.commit import commit
from tablelog.format.manifest import INCREMENT_COLUMN
from tablelog.format.plan import Intent, NewFragment
from tablelog.format.state import TableState
from tablelog.progress import Progress
from tablelog.read.frames import fragments_frame
from tablelog.read.scan import Root, _latest, _ref
from tablelog.table.encode import read_group_rows
from tablelog.table.types import type_from_json
from tablelog.writer.committer import upload_group

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
    in between is a :class:`CommitConflictError`. ``progress`` is called as fragments
    are read and objects written (:mod:`tablelog.progress`).
    """
    if target_rows < 1:
        raise ValueError(f"target_rows must be >= 1, got {target_rows}")
    ref = _ref(path, root, storage_options)
    try:
        _latest(ref)
    except NotFoundError:
        shards = find_shards(ref.store, ref.project, ref.run_id, ref.key)
        if not shards:
            raise
        return _compact_shards(ref.path, shards, root, storage_options, target_rows,
                               min_fragments, progress)  # fmt: skip
    for attempt in range(REPLANS + 1):
        try:
            return _compact_once(ref, target_rows, min_fragments, progress)
        except _Stale as e:
            if attempt == REPLANS:
                raise CommitConflictError(
                    f"table {ref.path} kept changing while compacting ({e}); run compact again"
                ) from e
    raise AssertionError("unreachable")


#: Times a compaction starts over when a writer changed the rows it rewrote.
REPLANS = 3


class _Stale(Exception):
    """The fragments a compaction rewrote changed under it (a writer added columns)."""


def _compact_once(
    ref: TableRef, target_rows: int, min_fragments: int, progress: Progress | None
) -> CompactResult:
    state = load_version(ref, _latest(ref))
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
    tag = state.mode == "INCREMENTAL" and not paths.is_history(ref.key)
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
        new.append(NewFragment(rows=min(target_rows, arrow.num_rows - start), groups=(group,)))
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
            raise CommitConflictError(
                f"table {ref.path} was replaced or compacted by another writer while "
                "compacting; run compact again"
            )
        if frags[: len(compacted)] != original:
            # Same fragments, other contents: a MUTABLE writer added column groups to
            # rows this compaction rewrote without them. Start over from the new version.
            changed = next(f.id for f, o in zip(frags, original, strict=False) if f != o)
            raise _Stale(f"fragment {changed} gained columns in version {current.version}")
        kept = tuple(
            NewFragment(rows=f.rows, groups=f.groups, increment=f.increment)
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
