"""``scan``, ``history``, ``scan_runs`` and ``files``: the notebook-facing readers."""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
from collections.abc import Mapping
from typing import Any

import polars as pl

from tablelog.errors import (
    FormatError,
    InvalidArgumentError,
    InvalidNameError,
    NotFoundError,
    TableError,
)
from tablelog.format import paths
from tablelog.format.chain import (
    TableRef,
    latest_version,
    load_version,
    read_history,
    version_at_step,
)
from tablelog.format.manifest import INCREMENT_COLUMN
from tablelog.format.state import TableState
from tablelog.objects.cas import digest_of
from tablelog.objects.open import open_store
from tablelog.objects.store import Store
from tablelog.read.frames import fragments_frame, polars_schema
from tablelog.read.shards import (
    check_sharded_selector,
    find_shards,
    shard_ref,
    shard_states,
    with_shard_column,
)

Root = str | os.PathLike[str] | None


def split_path(path: str) -> tuple[str, str, str]:
    """``"project/run_id/key"`` -> parts; everything after the second ``/`` is the key."""
    if not isinstance(path, str):
        raise InvalidNameError(f"a table path must be a string, got {type(path).__name__}")
    parts = path.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise InvalidNameError(f"a table path is 'project/run_id/key', got {path!r}")
    project = paths.check_segment_name("project", parts[0])
    run_id = parts[1] if parts[1] == "*" else paths.check_segment_name("run id", parts[1])
    key = parts[2]
    shard = paths.parse_shard_key(key)
    if shard is not None:  # one shard's chain, addressed directly (_shard/<id>/<key>)
        paths.shard_key(*shard)
        if shard[1] != "_history":
            paths.check_key(shard[1])
    elif key != "_history":
        paths.check_key(key)
    return project, run_id, key


def _ref(path: str, root: Root, storage_options: Mapping[str, Any] | None) -> TableRef:
    project, run_id, key = split_path(path)
    store = open_store(root, storage_options=storage_options)
    return TableRef(store, project, run_id, key)


def _latest(ref: TableRef) -> int:
    latest = latest_version(ref)
    if latest < 0:
        run_key = paths.run_json_key(ref.project, ref.run_id)
        if not ref.store.exists(run_key):
            raise NotFoundError(f"no run {ref.project}/{ref.run_id} in {ref.store.url}")
        shards = find_shards(ref.store, ref.project, ref.run_id, ref.key)
        if shards:
            raise NotFoundError(
                f"table {ref.path} is sharded ({len(shards)} shards): scan, show, history and "
                f"files read it whole; this takes one shard at a time, e.g. "
                f"{ref.project}/{ref.run_id}/{paths.shard_key(shards[0], ref.key)}"
            )
        raise NotFoundError(
            f"run {ref.project}/{ref.run_id} has no table {ref.key!r} in {ref.store.url}; "
            f"its tables: {sorted(list_tables(ref.store, ref.project, ref.run_id))}"
        )
    return latest


def list_tables(store: Store, project: str, run_id: str) -> set[str]:
    prefix = paths.tables_prefix(project, run_id)
    keys = set()
    for k in store.list(prefix):
        rest = k[len(prefix) :]
        keys.add(paths.decode(rest.split("/", 1)[0]))
    return keys


def resolve_version(ref: TableRef, *, version: int | None, step: int | None) -> int:
    """The version a reader asked for (``version=`` or ``step=``), checked to exist."""
    latest = _latest(ref)
    if version is not None and step is not None:
        raise InvalidArgumentError("give version= or step=, not both")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidArgumentError(f"version must be an integer, got {version!r}")
        v = version if version >= 0 else latest + 1 + version
        if not 0 <= v <= latest:
            raise NotFoundError(
                f"table {ref.path} has versions 0..{latest}; there is no version {version}"
            )
        return v
    if step is not None:
        found = version_at_step(ref, step, latest)
        if found < 0:
            raise NotFoundError(f"table {ref.path} has no version at or before step {step}")
        return found
    return latest


def _frame(ref: TableRef, state: TableState, increment: int | None) -> pl.LazyFrame:
    tag = state.mode == "INCREMENTAL" and not state.separate and not paths.is_history(ref.key)
    frags = state.fragments
    compacted = any(INCREMENT_COLUMN in g.columns for f in frags for g in f.groups)
    if increment is not None and compacted:
        # Objects that store _increment are filtered by value; the others hold one
        # increment each, named in the manifest.
        if not 0 <= increment <= state.version:
            raise NotFoundError(
                f"table {ref.path} version {state.version} has no increment {increment}"
            )
        frags = tuple(
            f
            for f in frags
            if f.increment == increment or any(INCREMENT_COLUMN in g.columns for g in f.groups)
        )
        frame = fragments_frame(ref.store, state.schema, frags, tag_increments=tag)
        return frame.filter(pl.col(INCREMENT_COLUMN) == increment)
    if increment is not None:
        frags = tuple(f for f in frags if f.increment == increment)
        if not frags:
            raise NotFoundError(
                f"table {ref.path} version {state.version} has no increment {increment}"
            )
    return fragments_frame(ref.store, state.schema, frags, tag_increments=tag)


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
    ref = _ref(path, root, storage_options)
    if shard is not None:
        sref = shard_ref(ref, shard)
        state = load_version(sref, resolve_version(sref, version=version, step=step))
        if verify:
            _verify_objects(sref, state)
        frame = _frame(sref, state, increment)
        return with_shard_column(ref, frame, state.column_names, shard)
    try:
        return _scan_one(ref, version, step, increment, verify)
    except NotFoundError:
        shards = find_shards(ref.store, ref.project, ref.run_id, ref.key)
        if not shards:
            raise
    if check_sharded_selector(ref, shards, version=version, increment=increment):
        return scan(path, root=root, storage_options=storage_options, version=version,
                    step=step, increment=increment, verify=verify, shard=shards[0])  # fmt: skip
    return _union(ref, shards, step=step, verify=verify)


def _scan_one(
    ref: TableRef, version: int | None, step: int | None, increment: int | None, verify: bool
) -> pl.LazyFrame:
    state = load_version(ref, resolve_version(ref, version=version, step=step))
    if verify:
        _verify_objects(ref, state)
    return _frame(ref, state, increment)


def _union(ref: TableRef, shards: list[str], *, step: int | None, verify: bool) -> pl.LazyFrame:
    """Every shard of a sharded table (at ``step``) as one frame, shards in id order."""
    states = shard_states(ref, shards, step=step)
    if not states:
        at = "" if step is None else f" at or before step {step}"
        raise NotFoundError(f"no shard of table {ref.path} has a version{at}")
    return _union_frame(states, verify=verify)


def _union_frame(states: list[tuple[str, TableRef, TableState]], *, verify: bool) -> pl.LazyFrame:
    frames = []
    for shard, sref, state in states:
        if verify:
            _verify_objects(sref, state)
        frame = _frame(sref, state, None)
        frames.append(with_shard_column(sref, frame, state.column_names, shard))
    return pl.concat(frames, how="diagonal_relaxed")


def sharded_union(
    ref: TableRef, *, version: int | None = None, step: int | None = None
) -> list[tuple[str, TableRef, TableState]] | None:
    """The shards of sharded table ``ref`` as ``(shard, shard's ref, state)``, each at its
    newest version (at or before ``step``), in shard order; None when ``ref`` is not a
    sharded table. ``version=`` names one shard's version, so it is refused for a table
    with several shards (:func:`check_sharded_selector`); with one shard it is that
    shard's version."""
    shards = find_shards(ref.store, ref.project, ref.run_id, ref.key)
    if not shards:
        return None
    if check_sharded_selector(ref, shards, version=version):
        sref = shard_ref(ref, shards[0])
        v = resolve_version(sref, version=version, step=step)
        return [(shards[0], sref, load_version(sref, v))]
    states = shard_states(ref, shards, step=step)
    if not states:
        at = "" if step is None else f" at or before step {step}"
        raise NotFoundError(f"no shard of table {ref.path} has a version{at}")
    return states


def union_frame(
    states: list[tuple[str, TableRef, TableState]], *, verify: bool = False
) -> pl.LazyFrame:
    """The rows of the shards ``states`` names as one frame with a ``_shard`` column."""
    return _union_frame(states, verify=verify)


def _verify_objects(ref: TableRef, state: TableState) -> None:
    digests = sorted({g.object for f in state.fragments for g in f.groups})
    keys = [paths.object_key(d) for d in digests]
    for start in range(0, len(keys), 64):
        batch = keys[start : start + 64]
        for key, data, digest in zip(
            batch, ref.store.get_many(batch), digests[start:], strict=False
        ):
            if digest_of(data) != digest:
                raise FormatError(
                    f"object {ref.store.full_url(key)} of table {ref.path} version "
                    f"{state.version} is corrupt: its bytes do not hash to its name"
                )


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
    ref = _ref(path, root, storage_options)
    try:
        states = [(ref, load_version(ref, resolve_version(ref, version=version, step=None)))]
    except NotFoundError:
        shards = find_shards(ref.store, ref.project, ref.run_id, ref.key)
        if not shards:
            raise
        if check_sharded_selector(ref, shards, version=version):  # one shard: its version
            sref = shard_ref(ref, shards[0])
            states = [(sref, load_version(sref, resolve_version(sref, version=version, step=None)))]
        else:
            states = [(sref, st) for _, sref, st in shard_states(ref, shards, step=None)]
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
    path: str, *, root: Root = None, storage_options: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """One row per version: version, step, mode, rows, columns, time and what changed.

    A sharded table has one row per version of each shard, with a ``shard`` column,
    ordered by time (versions count within their shard)."""
    ref = _ref(path, root, storage_options)
    try:
        return _history(ref, _latest(ref))
    except NotFoundError:
        shards = find_shards(ref.store, ref.project, ref.run_id, ref.key)
        if not shards:
            raise
    parts = []
    for shard in shards:
        sref = shard_ref(ref, shard)
        latest = latest_version(sref)
        if latest >= 0:
            parts.append(_history(sref, latest).with_columns(shard=pl.lit(shard, pl.String)))
    if not parts:
        raise NotFoundError(f"no shard of table {ref.path} has a version")
    return pl.concat(parts).sort("time", "shard", "version")


def _history(ref: TableRef, latest: int) -> pl.DataFrame:
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


def list_runs(store: Store, project: str) -> list[str]:
    prefix = paths.runs_prefix(project)
    runs = set()
    for k in store.list(prefix):
        rest = k[len(prefix) :]
        if rest.endswith("/run.json") and rest.count("/") == 1:
            runs.add(paths.decode(rest.split("/", 1)[0]))
    return sorted(runs)


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
        ref = TableRef(store, project, run_id, key)
        latest = latest_version(ref)
        if latest >= 0:
            lf = _frame(ref, load_version(ref, latest), None)
        else:
            shards = find_shards(store, project, run_id, key)
            if not shards:
                continue
            states = shard_states(ref, shards, step=None)
            if not states:
                continue  # only markers: no shard committed yet
            lf = _union_frame(states, verify=False)
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
