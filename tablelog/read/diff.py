"""``diff``: what changed in a table between two versions.

Row identity depends on the log mode:

- IMMUTABLE / MUTABLE: by position. Row ``i`` of version A is compared with row ``i``
  of version B; rows past the end of the shorter version are added (or removed), and
  every cell of a column both versions have is compared (null equals null, NaN equals
  NaN). A column whose type changed in a way that cannot be compared (say string to
  list) counts every row where either side is non-null as changed.
- INCREMENTAL: by increment. Rows are only ever appended, so the difference is the
  increments logged after the older version (rows added going forward, removed going
  backward), reported per increment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from tablelog.errors import InvalidArgumentError, NotFoundError
from tablelog.format.chain import load_version
from tablelog.format.handle import Root, TableHandle, open_table
from tablelog.format.manifest import INCREMENT_COLUMN
from tablelog.format.state import TableState
from tablelog.read.scan import table_frame

POSITION = "position"
INCREMENT = "increment"


@dataclass(frozen=True, kw_only=True)
class TableDiff:
    """The difference between versions ``version_a`` and ``version_b`` of ``path``.

    ``cells_changed`` maps each column both versions share to the number of rows
    (compared by position) whose value differs; it is empty for INCREMENTAL tables.
    ``increments_added`` / ``increments_removed`` are ``(increment, rows)`` pairs.
    """

    path: str
    mode: str
    identity: str
    version_a: int
    version_b: int
    rows_a: int
    rows_b: int
    columns_a: tuple[str, ...]
    columns_b: tuple[str, ...]
    columns_added: tuple[str, ...]
    columns_removed: tuple[str, ...]
    columns_retyped: tuple[str, ...]
    rows_added: int
    rows_removed: int
    rows_changed: int
    cells_changed: tuple[tuple[str, int], ...] = ()
    increments_added: tuple[tuple[int, int], ...] = ()
    increments_removed: tuple[tuple[int, int], ...] = ()
    #: A sharded table: each shard's own diff (its versions, increments and cells; a
    #: shard with no version at a side compares with an empty table). The counts above
    #: are their sums; ``version_a``/``version_b`` are -1 and the steps are given.
    shards: tuple[tuple[str, TableDiff], ...] = ()
    step_a: int | None = None
    step_b: int | None = None

    @property
    def same(self) -> bool:
        """True when the two versions hold the same columns and rows."""
        return not (
            self.columns_added
            or self.columns_removed
            or self.columns_retyped
            or self.rows_added
            or self.rows_removed
            or self.rows_changed
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "mode": self.mode,
            "identity": self.identity,
            "a": {"version": self.version_a, "rows": self.rows_a, "columns": list(self.columns_a)},
            "b": {"version": self.version_b, "rows": self.rows_b, "columns": list(self.columns_b)},
            "same": self.same,
            "columns_added": list(self.columns_added),
            "columns_removed": list(self.columns_removed),
            "columns_retyped": list(self.columns_retyped),
            "rows_added": self.rows_added,
            "rows_removed": self.rows_removed,
            "rows_changed": self.rows_changed,
            "cells_changed": dict(self.cells_changed),
            "increments_added": [{"increment": i, "rows": n} for i, n in self.increments_added],
            "increments_removed": [{"increment": i, "rows": n} for i, n in self.increments_removed],
            **(
                {
                    "step_a": self.step_a,
                    "step_b": self.step_b,
                    "shards": {s: d.to_json() for s, d in self.shards},
                }
                if self.shards
                else {}
            ),
        }


def diff(
    path: str,
    a: int | None = None,
    b: int | None = None,
    *,
    step_a: int | None = None,
    step_b: int | None = None,
    root: Root = None,
    storage_options: Mapping[str, Any] | None = None,
) -> TableDiff:
    """Compare version ``a`` (or the version as of step ``step_a``) with version ``b``
    (or as of ``step_b``; default the latest) of ``project/run/key``.

    Negative versions count from the latest, as in :func:`tablelog.scan`.

    A sharded table compares as one table: each shard at step ``step_a`` against itself
    at ``step_b`` (default its latest), summed, with each shard's diff in ``shards``.
    Version numbers belong to one shard, so ``a``/``b`` are refused when it has several.
    """
    if a is None and step_a is None:
        raise InvalidArgumentError("diff needs version a or step_a=")
    ref = open_table(path, root=root, storage_options=storage_options)
    latest_b = b is None and step_b is None
    try:
        sa = ref.state(version=a, step=step_a)
        sb = ref.state(version=-1 if latest_b else b, step=step_b)
    except NotFoundError:
        shards = ref.shards()
        if not shards:
            raise
        if a is not None or b is not None:  # one shard: its own versions (refused if more)
            one = ref.sharded(version=a if a is not None else b)
            assert one is not None
            return diff(one[0][1].path, a, b, step_a=step_a, step_b=step_b,
                        root=root, storage_options=storage_options)  # fmt: skip
        return _diff_union(ref, shards, step_a, step_b)
    return _diff_states(ref, sa, sb)


def _diff_union(
    ref: TableHandle, shards: list[str], step_a: int | None, step_b: int | None
) -> TableDiff:
    side_a = {s: (r, st) for s, r, st in ref.shard_states(shards, step=step_a)}
    side_b = {s: (r, st) for s, r, st in ref.shard_states(shards, step=step_b)}
    parts: list[tuple[str, TableDiff]] = []
    for shard in shards:
        if shard not in side_a and shard not in side_b:
            continue
        sref = (side_b.get(shard) or side_a[shard])[0]
        sa = side_a.get(shard, (sref, TableState()))[1]
        sb = side_b.get(shard, (sref, TableState()))[1]
        parts.append((shard, _diff_states(sref, sa, sb)))
    if not parts:
        raise NotFoundError(f"no shard of table {ref.path} has a version")
    diffs = [d for _, d in parts]
    columns_a = _union_names(d.columns_a for d in diffs)
    columns_b = _union_names(d.columns_b for d in diffs)
    cells: Counter[str] = Counter()
    for d in diffs:
        cells.update(dict(d.cells_changed))
    return TableDiff(
        path=ref.path,
        mode=next((d.mode for d in diffs if d.mode), ""),
        identity=diffs[0].identity,
        version_a=-1,
        version_b=-1,
        rows_a=sum(d.rows_a for d in diffs),
        rows_b=sum(d.rows_b for d in diffs),
        columns_a=columns_a,
        columns_b=columns_b,
        columns_added=tuple(c for c in columns_b if c not in columns_a),
        columns_removed=tuple(c for c in columns_a if c not in columns_b),
        columns_retyped=_union_names(d.columns_retyped for d in diffs),
        rows_added=sum(d.rows_added for d in diffs),
        rows_removed=sum(d.rows_removed for d in diffs),
        rows_changed=sum(d.rows_changed for d in diffs),
        cells_changed=tuple(cells.items()),
        shards=tuple(parts),
        step_a=step_a,
        step_b=step_b,
    )


def _union_names(groups: Any) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for names in groups:
        out.update(dict.fromkeys(names))
    return tuple(out)


def _diff_states(ref: TableHandle, sa: TableState, sb: TableState) -> TableDiff:
    va, vb = sa.version, sb.version
    types_a = {c.name: c.arrow for c in sa.schema}
    types_b = {c.name: c.arrow for c in sb.schema}
    common = [c for c in types_b if c in types_a]
    retyped = tuple(
        c
        for c in common
        if types_a[c] != types_b[c]
        and "null"
        not in {
            _plain(types_a[c]),
            _plain(types_b[c]),
        }
    )
    base: dict[str, Any] = {
        "path": ref.path,
        "mode": sb.mode or "",
        "version_a": va,
        "version_b": vb,
        "rows_a": sa.rows,
        "rows_b": sb.rows,
        "columns_a": sa.column_names,
        "columns_b": sb.column_names,
        "columns_added": tuple(c for c in types_b if c not in types_a),
        "columns_removed": tuple(c for c in types_a if c not in types_b),
        "columns_retyped": retyped,
    }
    if (sb.mode or sa.mode) == "INCREMENTAL":
        return _by_increment(ref, sa, sb, base)
    return _by_position(ref, sa, sb, common, base)


def _plain(arrow: Any) -> str:
    return arrow if isinstance(arrow, str) else ""


def _by_increment(
    ref: TableHandle, sa: TableState, sb: TableState, base: dict[str, Any]
) -> TableDiff:
    forward = sa.version <= sb.version
    old, new = (sa, sb) if forward else (sb, sa)
    if new.separate:
        # Each version holds only its own increment: the versions in between are it.
        counts = {v: load_version(ref, v).rows for v in range(old.version + 1, new.version + 1)}
    else:
        counts = _increments_after(ref, new, _last_increment(old))
    pairs = tuple(sorted(counts.items()))
    moved = sum(n for _, n in pairs)
    if not pairs and new.rows != old.rows:
        moved = abs(new.rows - old.rows)  # no increment tags to attribute rows to
    return TableDiff(
        identity=INCREMENT,
        rows_added=moved if forward else 0,
        rows_removed=0 if forward else moved,
        rows_changed=0,
        increments_added=pairs if forward else (),
        increments_removed=() if forward else pairs,
        **base,
    )


def _last_increment(state: TableState) -> int:
    """The number of ``state``'s newest increment (-1: none): its version in format 1,
    where a version is one log."""
    if state.format_version != 2:
        return state.version
    if state.through_increment is not None:
        return state.through_increment
    return (state.increment_count or 0) - 1


def _increments_after(ref: TableHandle, state: TableState, after: int) -> dict[int, int]:
    """Rows per increment numbered after ``after`` in ``state``."""
    compacted = any(INCREMENT_COLUMN in g.columns for f in state.fragments for g in f.groups)
    if not compacted:
        counts: Counter[int] = Counter()
        for f in state.fragments:
            if f.increment > after and f.rows:
                counts[f.increment] += f.rows
        return dict(counts)
    lf = table_frame(ref, state, None)
    if INCREMENT_COLUMN not in lf.collect_schema().names():
        return {}
    got = (
        lf.select(INCREMENT_COLUMN)
        .filter(pl.col(INCREMENT_COLUMN) > after)
        .group_by(INCREMENT_COLUMN)
        .len()
        .collect()
    )
    return {int(i): int(n) for i, n in got.iter_rows()}


def _by_position(
    ref: TableHandle, sa: TableState, sb: TableState, common: list[str], base: dict[str, Any]
) -> TableDiff:
    n = min(sa.rows, sb.rows)
    cells: dict[str, int] = dict.fromkeys(common, 0)
    rows_changed = 0
    if n and common:
        fa = table_frame(ref, sa, None).select(common).head(n)
        fb = table_frame(ref, sb, None).select(common).head(n)
        sch_a, sch_b = fa.collect_schema(), fb.collect_schema()
        names = {c: (f"a{i}", f"b{i}") for i, c in enumerate(common)}
        left = fa.select(pl.col(c).alias(names[c][0]) for c in common)
        right = fb.select(pl.col(c).alias(names[c][1]) for c in common)
        both = pl.concat([left, right], how="horizontal")
        flags = [
            _differs(names[c][0], names[c][1], sch_a[c], sch_b[c]).alias(f"d{i}")
            for i, c in enumerate(common)
        ]
        counted = both.select(flags).select(
            *(pl.col(f"d{i}").sum().alias(c) for i, c in enumerate(common)),
            pl.any_horizontal(pl.all()).sum().alias("__rows"),
        )
        out = counted.collect().row(0, named=True)
        cells = {c: int(out[c] or 0) for c in common}
        rows_changed = int(out["__rows"] or 0)
    return TableDiff(
        identity=POSITION,
        rows_added=max(0, sb.rows - sa.rows),
        rows_removed=max(0, sa.rows - sb.rows),
        rows_changed=rows_changed,
        cells_changed=tuple(cells.items()),
        **base,
    )


def _differs(a: str, b: str, ta: pl.DataType, tb: pl.DataType) -> pl.Expr:
    """True where the two cells differ (null == null)."""
    if ta == tb or (ta.is_numeric() and tb.is_numeric()):
        return pl.col(a).ne_missing(pl.col(b))
    # Incomparable types (or a column that was all null): a row changed where either
    # side holds a value.
    return pl.col(a).is_not_null() | pl.col(b).is_not_null()


__all__ = ["INCREMENT", "POSITION", "TableDiff", "diff"]
