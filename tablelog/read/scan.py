"""``scan``, ``history``, ``scan_runs`` and ``files``: the notebook-facing readers."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from typing import Any

import polars as pl

from tablelog.data.frames import fragments_frame, polars_schema
from tablelog.errors import InvalidArgumentError, NotFoundError, TableError
from tablelog.format import paths
from tablelog.format.chain import latest_version, load_version, read_history
from tablelog.format.handle import Root, TableHandle, list_runs, open_table, split_path
from tablelog.format.manifest import INCREMENT_COLUMN
from tablelog.format.state import TableState
from tablelog.objects.cas import check_digest
from tablelog.objects.open import open_store
from tablelog.read.shards import with_shard_column


def table_frame(table: TableHandle, state: TableState, increment: int | None) -> pl.LazyFrame:
    """The rows of ``state`` (a version of ``table``), or of one of its increments, as a
    lazy frame: the read layer's one frame builder."""
    tag = table.tags_increments(state)
    frags, by_value = table.increment_fragments(state, increment)
    through = state.through_increment
    cut = through is not None and any(
        f.last_increment is not None and f.last_increment > through for f in frags
    )
    # Rows of objects holding several increments are selected by their _increment
    # value, which a table whose rows do not show it (_history) reads and drops.
    needs = (by_value or cut) and not tag
    frame = fragments_frame(table.store, state.schema, frags, tag_increments=tag or needs)
    if by_value:
        frame = frame.filter(pl.col(INCREMENT_COLUMN) == increment)
    if cut:
        frame = frame.filter(pl.col(INCREMENT_COLUMN) <= through)
    return frame.drop(INCREMENT_COLUMN) if needs else frame


def scan(
    path: str,
    *,
    root: Root = None,
    storage_options: Mapping[str, Any] | None = None,
    version: int | None = None,
    step: int | None = None,
    increment: int | None = None,
    verify: bool = False,
    shard: str | None = None,
) -> pl.LazyFrame:
    """A lazy Polars frame of table ``project/run_id/key`` at a version.

    Parameters
    ----------
    version:
        Version number (negative counts from the latest); default the latest.
    step:
        The newest version logged at or before this step.
    increment:
        Only the rows of one increment (INCREMENTAL tables). Rows of INCREMENTAL
        tables carry their increment number in an ``_increment`` column.
    verify:
        Fetch every object of the version first and check that its bytes hash to its
        name (manifests are always checked against their chain); a mismatch raises
        :class:`~tablelog.FormatError` naming the object and the version.
    shard:
        Only this shard of a sharded table (logged by several processes with shard
        ids, e.g. one per rank); ``version=`` and ``increment=`` then count in its chain.

    A sharded table reads as one: its shards' rows, shards in id order, with a
    ``_shard`` column; ``step=`` selects every shard at its newest version logged at or
    before that step. Version and increment numbers belong to one shard (``shard=``).
    """
    ref = open_table(path, root=root, storage_options=storage_options)
    if shard is not None:
        sref = ref.shard(shard)
        state = sref.state(version=version, step=step)
        if verify:
            _verify_objects(sref, state)
        frame = table_frame(sref, state, increment)
        return with_shard_column(ref, frame, state.column_names, shard)
    try:
        return _scan_one(ref, version, step, increment, verify)
    except NotFoundError:
        shards = ref.shards()
        if not shards:
            raise
    if ref.check_shard_selector(shards, version=version, increment=increment):
        return scan(path, root=root, storage_options=storage_options, version=version,
                    step=step, increment=increment, verify=verify, shard=shards[0])  # fmt: skip
    return _union(ref, shards, step=step, verify=verify)


def _scan_one(
    ref: TableHandle, version: int | None, step: int | None, increment: int | None, verify: bool
) -> pl.LazyFrame:
    state = ref.state(version=version, step=step)
    if verify:
        _verify_objects(ref, state)
    return table_frame(ref, state, increment)


def _union(ref: TableHandle, shards: list[str], *, step: int | None, verify: bool) -> pl.LazyFrame:
    """Every shard of a sharded table (at ``step``) as one frame, shards in id order."""
    states = ref.shard_states(shards, step=step)
    if not states:
        at = "" if step is None else f" at or before step {step}"
        raise NotFoundError(f"no shard of table {ref.path} has a version{at}")
    return union_frame(states, verify=verify)


def union_frame(
    states: list[tuple[str, TableHandle, TableState]], *, verify: bool = False
) -> pl.LazyFrame:
    """The rows of the shards ``states`` names (as :meth:`TableHandle.sharded` gives
    them) as one frame with a ``_shard`` column."""
    frames = []
    for shard, sref, state in states:
        if verify:
            _verify_objects(sref, state)
        frame = table_frame(sref, state, None)
        frames.append(with_shard_column(sref, frame, state.column_names, shard))
    return pl.concat(frames, how="diagonal_relaxed")


def _verify_objects(ref: TableHandle, state: TableState) -> None:
    digests = sorted({g.object for f in state.fragments for g in f.groups})
    keys = [paths.object_key(d) for d in digests]
    for start in range(0, len(keys), 64):
        batch = keys[start : start + 64]
        for key, data, digest in zip(
            batch, ref.store.get_many(batch), digests[start:], strict=False
        ):
            what = f"object {ref.store.full_url(key)} of table {ref.path} version {state.version}"
            check_digest(data, digest, what=what)


def files(
    path: str,
    *,
    root: Root = None,
    storage_options: Mapping[str, Any] | None = None,
    version: int | None = None,
) -> tuple[list[str], pl.Schema]:
    """The Parquet object URLs of a version and its union schema (for Dask, DuckDB, Ray).

    For a sharded table: the latest version of every shard, shards in id order. A
    version whose rows keep columns added by ``add_column`` in objects of their own
    (MUTABLE tables) is refused with a :class:`~tablelog.TableError` until it is
    compacted (``tablelog compact``): the files would list those rows once per object."""
    ref = open_table(path, root=root, storage_options=storage_options)
    try:
        states = [(ref, ref.state(version=version))]
    except NotFoundError:
        shards = ref.shards()
        if not shards:
            raise
        if ref.check_shard_selector(shards, version=version):  # one shard: its version
            sref = ref.shard(shards[0])
            states = [(sref, sref.state(version=version))]
        else:
            states = [(sref, st) for _, sref, st in ref.shard_states(shards, step=None)]
        if not states:
            raise NotFoundError(f"no shard of table {ref.path} has a version") from None
    for r, state in states:
        split = next((f for f in state.fragments if len(f.groups) > 1), None)
        if split is not None:
            # Each object holds some columns of the same rows: a reader of the files
            # would see those rows once per object.
            raise TableError(
                f"version {state.version} of table {r.path} keeps columns added by "
                f"add_column in separate objects (fragment {split.id}: "
                f"{len(split.groups)} objects for its {split.rows} rows), which a list of "
                f"files cannot express: run `tablelog compact {r.path}` (one object per "
                "rows, all columns), then call files() again, or read it with tablelog.scan"
            )
    urls = [
        r.store.full_url(paths.object_key(g.object))
        for r, state in states
        for f in state.fragments
        for g in f.groups
    ]
    schemas = [pl.LazyFrame(schema=polars_schema(state.schema)) for _, state in states]
    return urls, pl.concat(schemas, how="diagonal_relaxed").collect_schema()


def history(
    path: str,
    *,
    root: Root = None,
    storage_options: Mapping[str, Any] | None = None,
    per: str = "version",
) -> pl.DataFrame:
    """The table's versions or its increments.

    ``per="version"`` (default): one row per version (commit): version, step, mode,
    rows, columns, time and what changed. ``per="increment"``: one row per log of the
    table (an increment, docs/format.md): its number, step, time, rows added, log id
    and the version that holds it; a version that is not a log (a compaction) has none.

    A sharded table has one row per version (increment) of each shard, with a ``shard``
    column, ordered by time (numbers count within their shard)."""
    if per not in _HISTORIES:
        raise InvalidArgumentError(f"per= is 'version' or 'increment', got {per!r}")
    build, order = _HISTORIES[per]
    ref = open_table(path, root=root, storage_options=storage_options)
    try:
        return build(ref, ref.latest())
    except NotFoundError:
        shards = ref.shards()
        if not shards:
            raise
    parts = []
    for shard in shards:
        sref = ref.shard(shard)
        latest = latest_version(sref)
        if latest >= 0:
            parts.append(build(sref, latest).with_columns(shard=pl.lit(shard, pl.String)))
    if not parts:
        raise NotFoundError(f"no shard of table {ref.path} has a version")
    return pl.concat(parts).sort("time", "shard", order)


def _history(ref: TableHandle, latest: int) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    schema: tuple[str, ...] = ()
    before = 0  # rows of the previous version
    for m, digest in read_history(ref, latest):
        if m.schema is not None:
            schema = tuple(c.name for c in m.schema)
        # A replace lists every row it holds; otherwise the growth (a version that
        # merges fragments also re-adds rows it already had).
        added = sum(f.rows for f in m.change.add) if m.change.replace else m.rows - before
        before = m.rows
        rows.append(
            {
                "version": m.version,
                "step": m.step,
                "mode": m.mode,
                "rows": m.rows,
                "columns": list(schema),
                "added_rows": added,
                "fragments": m.fragments,
                "time": dt.datetime.fromtimestamp(m.time, tz=dt.UTC),
                "writer": m.writer,
                "digest": digest,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "version": pl.Int64,
            "step": pl.Int64,
            "mode": pl.String,
            "rows": pl.Int64,
            "columns": pl.List(pl.String),
            "added_rows": pl.Int64,
            "fragments": pl.Int64,
            "time": pl.Datetime("us", "UTC"),
            "writer": pl.String,
            "digest": pl.String,
        },
    )


def _increment_history(ref: TableHandle, latest: int) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    logs: list[tuple[int, int | None, float, int, str | None]]
    for m, _ in read_history(ref, latest):
        if m.increments is not None:  # format 2
            logs = [(i.number, i.step, i.time, i.rows, i.log_id) for i in m.increments]
        elif m.extra.get("operation") == "compact":
            logs = []
        else:  # format 1: each version but a compaction is one log, numbered as it
            added = m.change.add
            new = sum(f.rows for f in added if f.increment == m.version)
            log_id = m.extra.get("log")
            logs = [(m.version, m.step, m.time, new, log_id if isinstance(log_id, str) else None)]
        rows.extend(
            {
                "increment": number,
                "step": step,
                "time": dt.datetime.fromtimestamp(time, tz=dt.UTC),
                "rows": n,
                "log_id": log_id,
                "version": m.version,
            }
            for number, step, time, n, log_id in logs
        )
    return pl.DataFrame(
        rows,
        schema={
            "increment": pl.Int64,
            "step": pl.Int64,
            "time": pl.Datetime("us", "UTC"),
            "rows": pl.Int64,
            "log_id": pl.String,
            "version": pl.Int64,
        },
    )


_HISTORIES = {"version": (_history, "version"), "increment": (_increment_history, "increment")}


def scan_runs(
    pattern: str,
    *,
    root: Root = None,
    storage_options: Mapping[str, Any] | None = None,
    run_column: str = "run_id",
) -> pl.LazyFrame:
    """One table across the runs of a project (``"project/*/key"``), with each row's
    run id in a ``run_column`` column (default ``"run_id"``). A table that has a column
    of that name of its own is refused (its values would be replaced): pass another
    ``run_column``."""
    if not isinstance(run_column, str) or not run_column:
        raise InvalidArgumentError(f"run_column must be a column name, got {run_column!r}")
    project, run_pat, key = split_path(pattern)
    store = open_store(root, storage_options=storage_options)
    frames = []
    for run_id in list_runs(store, project):
        if not fnmatch.fnmatchcase(run_id, run_pat):
            continue
        ref = TableHandle(store, project, run_id, key)
        latest = latest_version(ref)
        if latest >= 0:
            lf = table_frame(ref, load_version(ref, latest), None)
        else:
            shards = ref.shards()
            if not shards:
                continue
            states = ref.shard_states(shards, step=None)
            if not states:
                continue  # only markers: no shard committed yet
            lf = union_frame(states, verify=False)
        if run_column in lf.collect_schema().names():
            raise TableError(
                f"table {ref.path} has a column {run_column!r} of its own, and scan_runs "
                f"names each row's run in that column: pass run_column='...' (another name)"
            )
        frames.append(lf.with_columns(pl.lit(run_id, dtype=pl.String).alias(run_column)))
    if not frames:
        raise NotFoundError(f"no run of project {project!r} matching {run_pat!r} has table {key!r}")
    return pl.concat(frames, how="diagonal_relaxed")


__all__ = ["INCREMENT_COLUMN", "files", "history", "scan", "scan_runs"]
