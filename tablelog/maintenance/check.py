"""``verify``: check that every version of every table is intact (an fsck).

The checks are those readers make (docs/format.md, "Reading" and "Defensive parsing
limits"), applied to every version instead of the one being read, plus what readers
skip: object existence for every version, and with ``deep=True`` the digest, size,
row count and columns of every object. Problems are collected, not raised, so one
broken table does not hide the next one; a store that cannot be read still raises.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tablelog.data.frames import fragments_frame
from tablelog.errors import (
    FormatError,
    InvalidNameError,
    NotFoundError,
    StoreError,
    TablelogError,
)
from tablelog.format import paths
from tablelog.format.arrow_types import type_from_json
from tablelog.format.chain import TableRef, latest_version, load_version
from tablelog.format.manifest import (
    INCREMENT_COLUMN,
    ColumnGroup,
    Fragment,
    Manifest,
    parse_manifest,
    parse_segment,
)
from tablelog.format.runinfo import parse_run_info
from tablelog.format.state import (
    MAX_STEP,
    TableState,
    apply_manifest,
    is_checkpoint,
    kept_fragments,
    max_step_of,
    state_from_checkpoint,
    tags_increments,
)
from tablelog.objects.cas import digest_in_key, digest_of, get_present
from tablelog.objects.open import open_store
from tablelog.objects.store import Store
from tablelog.progress import Progress

#: Manifests fetched per request batch, and parallel requests for object checks.
BATCH = 256
WORKERS = 16
#: Fragments read at a time by ``deep``'s read of each table's newest version.
READ_BATCH = 64
HISTORY_KEY = "_history"

Root = str | os.PathLike[str] | None


@dataclass(frozen=True, kw_only=True)
class Cell:
    """A table cell: ``row`` of ``column`` in ``version`` of ``table`` (project/run/key).

    ``row`` is the row number in that version (-1 when the chain before it is broken
    and only ``row_in_fragment`` of ``fragment`` is known).
    """

    table: str
    version: int
    column: str
    row: int
    fragment: str
    row_in_fragment: int

    def __str__(self) -> str:
        where = (
            f"row {self.row}"
            if self.row >= 0
            else f"fragment {self.fragment} row {self.row_in_fragment}"
        )
        return f"{self.table} version {self.version} column {self.column!r} {where}"


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong in the store.

    ``location`` is the URL of the manifest, ``run.json`` or object that is wrong.
    For an object, ``table``/``version``/``fragment`` say which table version (and
    fragment) references it first, ``references`` how many references there are.
    For a media blob, ``cells`` lists the table cells that point to it (in the
    version that added each of their fragments).
    """

    location: str
    message: str
    table: str | None = None
    version: int | None = None
    fragment: str | None = None
    references: int = 0
    cells: tuple[Cell, ...] = ()

    def __str__(self) -> str:
        by = ""
        if self.table is not None and self.version is not None:
            by = f" (referenced by {self.table} version {self.version}"
            by += f" fragment {self.fragment}" if self.fragment is not None else ""
            more = self.references - 1
            by += f" and {more} more reference(s))" if more > 0 else ")"
        if self.cells:
            shown = "; ".join(str(c) for c in self.cells[:10])
            more_cells = f"; and {len(self.cells) - 10} more" if len(self.cells) > 10 else ""
            by += f" [cells: {shown}{more_cells}]"
        return f"{self.location}{by}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class Report:
    """What :func:`verify` checked and found.

    ``objects`` counts distinct referenced objects (column groups and checkpoint
    segments); ``bytes`` is their total size (read from the store for segments and,
    with ``deep``, for every object; otherwise the size the manifests declare).
    ``unreferenced`` counts objects under ``objects/`` and ``media/`` that no version
    references (debris of crashed or lost commits, see :func:`tablelog.gc`); it is
    not a problem, and is only counted when the whole root is verified (else None).
    """

    root: str
    target: str
    deep: bool
    runs: int
    tables: int
    versions: int
    objects: int
    bytes: int
    unreferenced: int | None
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["ok"] = self.ok
        return out


@dataclass(slots=True)
class _Ref:
    """The first reference to an object, and how many there are."""

    kind: str  # "group" or "segment"
    table: str
    version: int
    fragment: str | None
    size: int
    rows: int = 0
    columns: tuple[str, ...] = ()
    count: int = 1
    #: Format 2: the increments (first, last) of the fragment whose rows the object
    #: holds with their ``_increment``.
    increments: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class _MediaUse:
    """A column group whose cells refer to a media blob, as first added to a table."""

    table: str
    version: int
    fragment: str
    offset: int  # the fragment's first row in that version; -1 when unknown
    group: str  # the group's object digest
    columns: tuple[str, ...]


@dataclass
class _Table:
    project: str
    run_id: str
    key: str
    versions: dict[int, str] = field(default_factory=dict)  # version -> store key
    strays: list[str] = field(default_factory=list)


@dataclass
class _Walk:
    """The state of one verify: references found so far and problems."""

    store: Store
    deep: bool
    problems: list[Problem] = field(default_factory=list)
    refs: dict[str, _Ref] = field(default_factory=dict)
    #: Segment digest -> its fragments (None: missing or corrupt, already reported).
    segments: dict[str, tuple[Fragment, ...] | None] = field(default_factory=dict)
    nbytes: int = 0
    versions: int = 0
    #: Media blob key -> (table, group object) -> where that group first refers to it.
    media: dict[str, dict[tuple[str, str], _MediaUse]] = field(default_factory=dict)
    #: Group object -> its media columns, read once when a blob is missing.
    media_columns: dict[str, pa.Table | None] = field(default_factory=dict)

    def problem(self, location: str, message: str, **kw: Any) -> None:
        self.problems.append(Problem(location=location, message=message, **kw))

    def reference(self, key: str, ref: _Ref) -> None:
        found = self.refs.get(key)
        if found is None:
            self.refs[key] = ref
        else:
            found.count += 1

    def reference_group(
        self,
        table: str,
        version: int,
        fragment: Fragment | str,
        group: ColumnGroup,
        offset: int = -1,
    ) -> None:
        fid = fragment if isinstance(fragment, str) else fragment.id
        rows = -1 if isinstance(fragment, str) else fragment.rows  # -1: unknown
        key = paths.object_key(group.object)
        found = self.refs.get(key)
        if found is not None and found.rows < 0:
            found.rows = rows
        span = None
        if (
            isinstance(fragment, Fragment)
            and fragment.last_increment is not None
            and INCREMENT_COLUMN in group.columns
        ):
            span = (fragment.increment, fragment.last_increment)
        ref = _Ref("group", table, version, fid, group.size, rows, group.columns, increments=span)
        self.reference(key, ref)
        for name in group.media:
            blob = paths.media_blob_key(name)
            self.reference(blob, _Ref("media", table, version, fid, -1))
            uses = self.media.setdefault(blob, {})
            use = _MediaUse(table, version, fid, offset, group.object, group.columns)
            uses.setdefault((table, group.object), use)


# --------------------------------------------------------------------------- targets


def _parse_target(target: str) -> tuple[str, str]:
    """(listing prefix, normalised target) for '', 'project', 'project/run', 'p/r/key'."""
    if not isinstance(target, str):
        raise InvalidNameError(f"a verify target must be a string, got {type(target).__name__}")
    target = target.strip("/")
    if not target:
        return paths.projects_prefix(), ""
    parts = target.split("/", 2)
    project = paths.check_segment_name("project", parts[0])
    if len(parts) == 1:
        return paths.runs_prefix(project), target
    run_id = paths.check_segment_name("run id", parts[1])
    if len(parts) == 2:
        return paths.run_prefix(project, run_id), target
    shard = paths.parse_shard_key(parts[2])
    if shard is not None:
        paths.shard_key(*shard)  # one shard's chain: its id checked like a name
    key = parts[2] if shard is None else shard[1]
    if key != HISTORY_KEY:
        paths.check_key(key)
    return paths.versions_prefix(project, run_id, parts[2]), target


def _canonical(segment: str) -> str | None:
    name = paths.decode(segment)
    return name if paths.encode(name) == segment else None


def _discover(
    store: Store, prefix: str, walk: _Walk
) -> tuple[dict[tuple[str, str], str | None], dict[tuple[str, str, str], _Table]]:
    """Runs (-> their run.json key, None if missing) and tables below ``prefix``."""
    runs: dict[tuple[str, str], str | None] = {}
    tables: dict[tuple[str, str, str], _Table] = {}
    for key in store.list(prefix):
        parts = key.split("/")
        if len(parts) < 5 or parts[0] != "projects" or parts[2] != "runs":
            continue
        names = [_canonical(p) for p in (parts[1], parts[3])]
        project, run_id = names
        if project is None or run_id is None:
            walk.problem(store.full_url(key), "project or run id is not canonically encoded")
            continue
        run = (project, run_id)
        runs.setdefault(run, None)
        if len(parts) == 5 and parts[4] == "run.json":
            runs[run] = key
            continue
        if len(parts) < 8 or parts[4] != "tables" or parts[6] != "versions":
            continue  # not a manifest: run.json, shard markers, latest-version hints
        table_key = _canonical(parts[5])
        if table_key is None:
            walk.problem(store.full_url(key), "table key is not canonically encoded")
            continue
        t = tables.setdefault((*run, table_key), _Table(project, run_id, table_key))
        version = paths.parse_version_name(parts[7]) if len(parts) == 8 else None
        if version is None:
            t.strays.append(key)
        else:
            t.versions[version] = key
    return runs, tables


# ---------------------------------------------------------------------------- checks


def _schema_problems(m: Manifest) -> list[str]:
    out = []
    assert m.schema is not None
    names = [c.name for c in m.schema]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        out.append(f"schema lists column(s) {dupes} more than once")
    for c in m.schema:
        try:
            type_from_json(c.arrow)
        except (TablelogError, ValueError, TypeError, KeyError, pa.ArrowException) as e:
            out.append(f"schema column {c.name!r} has an unreadable type: {e}")
    return out


def _fragment_problem(f: Fragment, columns: set[str]) -> str | None:
    seen: set[str] = set()
    for g in f.groups:
        # Compacted INCREMENTAL fragments keep their rows' increments in _increment.
        extra = [c for c in g.columns if c not in columns and c != INCREMENT_COLUMN]
        if extra:
            return f"fragment {f.id!r} has column(s) {extra} that are not in the schema"
        twice = seen.intersection(g.columns)
        if twice:
            return f"fragment {f.id!r} stores column(s) {sorted(twice)} in two groups"
        seen.update(g.columns)
    return None


def _range_problem(f: Fragment, tagged: bool) -> str | None:
    """Format 2: rows of several increments of a table read per increment
    (INCREMENTAL, ``_history``) are told apart by ``_increment``, which their object
    must store (docs/format.md, "Fragments")."""
    last = f.last_increment
    if not tagged or last is None or last == f.increment:
        return None
    if any(INCREMENT_COLUMN in g.columns for g in f.groups):
        return None
    return (
        f"fragment {f.id!r} holds increments {f.increment}..{last} but its object stores "
        f"no {INCREMENT_COLUMN} column: readers cannot tell its rows' increments apart"
    )


def _state_problems(state: TableState, key: str) -> list[str]:
    """Whole-state checks: every group's columns in the schema, fragment ids unique,
    format-2 ranges stored."""
    columns = set(state.column_names)
    tagged = _reads_by_increment(state, key)
    out = []
    ids: set[str] = set()
    for f in state.fragments:
        if f.id in ids:
            out.append(f"fragment id {f.id!r} is used twice")
        ids.add(f.id)
        found = _fragment_problem(f, columns) or _range_problem(f, tagged)
        if found is not None:
            out.append(found)
    return out[:10]


def _reads_by_increment(state: TableState, key: str) -> bool:
    return tags_increments(state, key) or (
        state.format_version == 2 and not state.separate and paths.is_history(key)
    )


def _load_segments(
    walk: _Walk, table: str, version: int, m: Manifest, url: str
) -> tuple[Fragment, ...] | None:
    """The fragments checkpoint ``m`` lists, or None (problems reported)."""
    assert m.checkpoint is not None
    out: list[Fragment] = []
    ok = True
    todo = [s.object for s in m.checkpoint if s.object not in walk.segments]
    keys = [paths.object_key(d, "json.gz") for d in dict.fromkeys(todo)]
    for key, data in get_present(walk.store, keys, batch=BATCH):
        digest = digest_in_key(key)
        seg_url = walk.store.full_url(key)
        by = {"table": table, "version": version, "references": 1}
        walk.reference(key, _Ref("segment", table, version, None, len(data or b"")))
        walk.segments[digest] = None
        if data is None:
            walk.problem(seg_url, "checkpoint segment is missing", **by)
            continue
        walk.nbytes += len(data)
        if digest_of(data) != digest:
            walk.problem(seg_url, f"bytes hash to {digest_of(data)}, not to the name", **by)
            continue
        try:
            frags = parse_segment(data, where=seg_url)
        except FormatError as e:
            walk.problem(seg_url, str(e), **by)
            continue
        walk.segments[digest] = frags
        for f in frags:
            for g in f.groups:
                walk.reference_group(table, version, f, g)
    for s in m.checkpoint:
        key = paths.object_key(s.object, "json.gz")
        if s.object not in todo:
            walk.reference(key, _Ref("segment", table, version, None, 0))
        listed = walk.segments.get(s.object)
        if listed is None:
            ok = False
        elif len(listed) != s.fragments:
            walk.problem(
                url,
                f"checkpoint segment {s.object[:12]}… lists {len(listed)} fragments, "
                f"the manifest says {s.fragments}",
            )
            ok = False
        else:
            out.extend(listed)
    return tuple(out) if ok else None


def _verify_table(walk: _Walk, t: _Table) -> None:
    store = walk.store
    ref = TableRef(store, t.project, t.run_id, t.key)
    path = ref.path
    for key in t.strays:
        walk.problem(store.full_url(key), "not a manifest name (expected <20 digits>.json)")
    latest = max(t.versions, default=-1)
    # One problem per gap, whatever its size: the time is that of the keys that exist,
    # never of a number found in a name.
    expected = 0
    for v in sorted(t.versions):
        if v > expected:
            missing = (
                f"version {expected}" if v == expected + 1 else f"versions {expected}..{v - 1}"
            )
            walk.problem(
                ref.version_url(v),
                f"{missing} missing before this one: versions must be contiguous, and "
                f"readers stop at version {expected - 1} (a stray or hand-copied manifest, "
                "or a deleted one)",
            )
        expected = v + 1
    state: TableState | None = TableState()  # None: chain broken until the next checkpoint
    prev_digest: str | None = None
    prev_ok = False
    mode: str | None = None
    high: int | None = None  # the largest step so far
    ordered = sorted(t.versions.items())
    for (v, _key), (_, data) in zip(
        ordered, get_present(store, [k for _, k in ordered], batch=BATCH), strict=True
    ):
        url = ref.version_url(v)
        walk.versions += 1
        if v > 0 and v - 1 not in t.versions:
            state, prev_ok = None, False
        if data is None:
            walk.problem(url, "manifest disappeared while verifying")
            state, prev_ok = None, False
            continue
        digest = digest_of(data)
        try:
            m = parse_manifest(data, where=url)
        except FormatError as e:
            walk.problem(url, str(e))
            state, prev_digest, prev_ok = None, digest, False
            continue
        ok = True
        if m.key != t.key:
            walk.problem(url, f"manifest is for table key {m.key!r}, not {t.key!r}")
            ok = False
        if m.version != v:
            walk.problem(url, f"manifest says version {m.version}, its name says {v}")
            ok = False
        if v == 0 and m.parent is not None:
            walk.problem(url, "version 0 must have parent null")
            ok = False
        elif v > 0 and prev_ok and m.parent != prev_digest:
            assert prev_digest is not None
            walk.problem(
                url,
                f"parent {str(m.parent)[:12]}… is not the digest of version {v - 1} "
                f"({prev_digest[:12]}…): the chain is broken, or version {v - 1} or {v} "
                "was modified",
            )
            ok = False
        step_high = max_step_of(m)
        back = high is not None and (step_high is None or step_high < high)
        if back and ok and prev_ok:  # (a broken chain is reported as such)
            walk.problem(
                url,
                f"step {m.step} goes back from step {high} of an earlier version without "
                f"recording extra.{MAX_STEP}: scan(step=) may pick the wrong version",
            )
        elif step_high is not None:
            high = step_high
        if mode is None:
            mode = m.mode
        elif m.mode != mode:
            walk.problem(url, f"mode {m.mode} differs from the table's mode {mode}")
            ok = False
        if m.schema is not None:
            for msg in _schema_problems(m):
                walk.problem(url, msg)
                ok = False
        # Row numbers in version v: removed fragments no longer count before new rows.
        kept = tuple(kept_fragments(state.fragments, m.change)) if state is not None else ()
        offset = 0 if m.change.replace else (sum(f.rows for f in kept) if state else -1)
        for f in m.change.add:
            for g in f.groups:
                walk.reference_group(path, v, f, g, offset)
            offset = offset + f.rows if offset >= 0 else -1
        parent_offsets = _offsets(kept) if state is not None and m.change.add_groups else {}
        if state is not None:
            try:
                # Version and parent were checked above; apply for the totals.
                base = dataclasses.replace(state, version=m.version - 1, digest=m.parent)
                state = dataclasses.replace(
                    apply_manifest(base, m, digest, where=url), version=v, digest=digest
                )
            except FormatError as e:
                walk.problem(url, str(e))
                state, ok = None, False
        if is_checkpoint(v) and (m.checkpoint is None or m.schema is None):
            walk.problem(url, f"version {v} is a checkpoint version but lists no checkpoint")
            ok = False
        if m.checkpoint is not None:
            frags = _load_segments(walk, path, v, m, url)
            if frags is None:
                ok = False
            elif state is not None:
                if frags != state.fragments:
                    walk.problem(
                        url,
                        f"checkpoint segments list {len(frags)} fragments that differ from "
                        f"the {len(state.fragments)} the chain gives",
                    )
                    ok = False
            elif m.schema is not None:
                try:  # restart the chain here, as a reader of a later version would
                    state = state_from_checkpoint(m, digest, frags, where=url)
                except FormatError as e:
                    walk.problem(url, str(e))
                    ok = False
                else:
                    for msg in _state_problems(state, t.key):
                        walk.problem(url, msg)
                        ok = False
        by_id = {f.id: f for f in state.fragments} if state and m.change.add_groups else {}
        for fid, g in m.change.add_groups:
            walk.reference_group(path, v, by_id.get(fid, fid), g, parent_offsets.get(fid, -1))
        if state is not None:
            columns = set(state.column_names)
            if m.schema is not None or v == latest:
                msgs = _state_problems(state, t.key)
            else:
                tagged = _reads_by_increment(state, t.key)
                msgs = [
                    p
                    for f in m.change.add
                    if (p := _fragment_problem(f, columns) or _range_problem(f, tagged))
                ]
                if m.change.add_groups:
                    targets = {fid for fid, _ in m.change.add_groups}
                    msgs += [
                        p
                        for fid in sorted(targets)
                        if fid in by_id and (p := _fragment_problem(by_id[fid], columns))
                    ]
            for msg in msgs:
                walk.problem(url, msg)
                ok = False
        prev_digest, prev_ok = digest, ok


def _read_latest(walk: _Walk, t: _Table) -> None:
    """``deep``: read the newest version as readers do (its schema cast included), so
    that a table whose objects are intact but which no reader can read is reported."""
    ref = TableRef(walk.store, t.project, t.run_id, t.key)
    latest = latest_version(ref)
    if latest < 0:
        return
    url = ref.version_url(latest)
    try:
        state = load_version(ref, latest)
        tag = tags_increments(state, t.key)
        frags = state.fragments
        for i in range(0, max(len(frags), 1), READ_BATCH):  # (memory: a batch at a time)
            part = frags[i : i + READ_BATCH]
            fragments_frame(walk.store, state.schema, part, tag_increments=tag).collect()
    except StoreError:
        raise
    except FormatError:
        return  # the chain's own problems are reported where they are
    except (TablelogError, pl.exceptions.PolarsError, pa.ArrowException, OSError) as e:
        walk.problem(url, f"version {latest} cannot be read: {type(e).__name__}: {e}")


def _offsets(fragments: tuple[Fragment, ...]) -> dict[str, int]:
    """Fragment id -> its first row among ``fragments``."""
    out, row = {}, 0
    for f in fragments:
        out[f.id] = row
        row += f.rows
    return out


def _read_media_columns(store: Store, group: str) -> pa.Table | None:
    """The media cell columns of group object ``group`` (None: missing or unreadable)."""
    try:
        parquet = pq.ParquetFile(io.BytesIO(store.get(paths.object_key(group))))
        names = [
            f.name
            for f in parquet.schema_arrow
            if pa.types.is_struct(f.type) and f.type.get_field_index("digest") >= 0
        ]
        return parquet.read(columns=names)
    except (TablelogError, pa.ArrowException, OSError, ValueError):
        return None


def _media_cells(walk: _Walk, blob: str) -> tuple[Cell, ...]:
    """The cells that point to media blob ``blob``: read from the groups that list it."""
    digest = digest_in_key(blob)
    cells: list[Cell] = []
    for use in walk.media.get(blob, {}).values():
        if use.group not in walk.media_columns:  # read each group once, however many blobs
            walk.media_columns[use.group] = _read_media_columns(walk.store, use.group)
        table = walk.media_columns[use.group]
        if table is None:
            continue  # the group itself is reported (missing or unreadable)
        media_cols = [c for c in table.column_names if c in use.columns]
        for column in media_cols:
            for i, cell in enumerate(table.column(column).to_pylist()):
                if cell is None:
                    continue
                if cell.get("digest") != digest and digest not in (cell.get("extra") or ""):
                    continue
                cells.append(
                    Cell(
                        table=use.table,
                        version=use.version,
                        column=column,
                        row=use.offset + i if use.offset >= 0 else -1,
                        fragment=use.fragment,
                        row_in_fragment=i,
                    )
                )
    return tuple(sorted(cells, key=lambda c: (c.table, c.version, c.row, c.column)))


def _check_objects(walk: _Walk, listed: set[str] | None, progress: Progress | None) -> None:
    """Existence (and with ``deep``, bytes) of every referenced column group and media
    blob; a media blob's problem lists the cells that point to it."""
    store = walk.store
    items = [(k, r) for k, r in walk.refs.items() if r.kind in ("group", "media")]

    def check(item: tuple[str, _Ref]) -> tuple[str, _Ref, str | None, int]:
        key, r = item
        missing = "media blob is missing" if r.kind == "media" else "object is missing"
        if not walk.deep:
            present = key in listed if listed is not None else store.exists(key)
            return key, r, None if present else missing, max(r.size, 0)
        try:
            data = store.get(key)
        except NotFoundError:
            return key, r, missing, 0
        return key, r, _deep_problem(key, r, data), len(data)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for n, (key, r, msg, size) in enumerate(pool.map(check, items), 1):
            if progress is not None:
                progress("check objects", n, len(items))
            walk.nbytes += size
            if msg is not None:
                walk.problem(
                    store.full_url(key),
                    msg,
                    table=r.table,
                    version=r.version,
                    fragment=r.fragment,
                    references=r.count,
                    cells=_media_cells(walk, key) if r.kind == "media" else (),
                )


def _deep_problem(key: str, r: _Ref, data: bytes) -> str | None:
    digest = digest_in_key(key)
    actual = digest_of(data)
    what = "media blob" if r.kind == "media" else "object"
    if actual != digest:
        return f"{what} is corrupt: its bytes hash to {actual}, not to its name"
    if r.kind == "media":
        return None
    if len(data) != r.size:
        return f"object is {len(data)} bytes, the manifest says {r.size}"
    try:
        f = pq.ParquetFile(io.BytesIO(data))
        rows, names = f.metadata.num_rows, f.schema_arrow.names
    except (pa.ArrowException, OSError, ValueError) as e:
        return f"object is not readable Parquet: {e}"
    if r.rows >= 0 and rows != r.rows:
        return f"object holds {rows} rows, fragment {r.fragment} says {r.rows}"
    if sorted(names) != sorted(r.columns):
        return f"object holds columns {names}, the manifest says {list(r.columns)}"
    if r.increments is not None and rows:
        low, high = r.increments
        try:
            tags = pc.min_max(f.read(columns=[INCREMENT_COLUMN]).column(0))
        except (pa.ArrowException, OSError, ValueError) as e:
            return f"object's {INCREMENT_COLUMN} column is not readable: {e}"
        lo, hi = tags["min"].as_py(), tags["max"].as_py()
        if lo is None or hi is None or lo < low or hi > high:
            return (
                f"object's rows are of increments {lo}..{hi}, but fragment {r.fragment} "
                f"holds increments {low}..{high}"
            )
    return None


def _check_runs(walk: _Walk, runs: Mapping[tuple[str, str], str | None]) -> None:
    store = walk.store
    for (project, run_id), key in sorted(runs.items()):
        if key is None:
            key = paths.run_json_key(project, run_id)
            if not store.exists(key):  # a table target's listing does not include it
                walk.problem(
                    store.full_url(key), f"run {project}/{run_id} has tables but no run.json"
                )
                continue
        url = store.full_url(key)
        try:
            info = parse_run_info(store.get(key), where=url)
        except NotFoundError:
            walk.problem(url, "run.json disappeared while verifying")
            continue
        except FormatError as e:
            walk.problem(url, str(e))
            continue
        if (info.project, info.run_id) != (project, run_id):
            walk.problem(url, f"run.json is for run {info.project}/{info.run_id}")


def list_keys(store: Store, prefixes: Iterable[str]) -> set[str]:
    """Keys below ``prefixes``. Some S3 servers (SeaweedFS) list an emptied folder as a
    key named like the prefix itself, so only keys strictly below it count."""
    return {k for p in prefixes for k in store.list(p) if k.startswith(p) and k != p}


def verify(
    target: str = "",
    *,
    root: Root = None,
    storage_options: Mapping[str, Any] | None = None,
    deep: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Check every version of the tables below ``target`` and report what is wrong.

    Parameters
    ----------
    target:
        ``""`` (the whole root), ``"project"``, ``"project/run_id"`` or
        ``"project/run_id/key"``.
    deep:
        Also read every column group and check its digest, size, rows and columns
        (reads all data; without it, objects are only checked to exist).
    progress:
        Called as tables and objects are checked (:mod:`tablelog.progress`).

    Raises ``NotFoundError`` when a non-empty ``target`` has no tables or runs, and
    ``StoreError`` when the store cannot be read; everything wrong *in* the store is
    returned in :attr:`Report.problems`.
    """
    prefix, target = _parse_target(target)
    store = open_store(root, storage_options=storage_options)
    walk = _Walk(store=store, deep=deep)
    runs, tables = _discover(store, prefix, walk)
    if target and not runs:
        raise NotFoundError(f"nothing to verify: no run or table {target!r} in {store.url}")
    if target.count("/") == 2 and not tables:
        raise NotFoundError(f"nothing to verify: no table {target!r} in {store.url}")
    _check_runs(walk, runs)
    for n, name in enumerate(sorted(tables), 1):
        t = tables[name]
        try:
            _verify_table(walk, t)
        except StoreError:
            raise  # the store itself cannot be read: nothing to report on
        except (TablelogError, ValueError, TypeError, KeyError, OverflowError, RecursionError,
                pa.ArrowException) as e:  # fmt: skip
            # One damaged object never hides the rest of the root: report it, go on.
            where = store.full_url(paths.versions_prefix(t.project, t.run_id, t.key))
            walk.problem(where, f"could not be verified: {type(e).__name__}: {e}")
        if progress is not None:
            progress("verify tables", n, len(tables))
    # Listed after the manifests were read: objects precede the manifests naming them.
    listed = list_keys(store, ("objects/", "media/")) if not target else None
    _check_objects(walk, listed, progress)
    if deep:  # tables with no problem so far: do they read as readers read them?
        damaged = {p.table for p in walk.problems} | {p.location for p in walk.problems}
        for name in sorted(tables):
            t = tables[name]
            prefix = store.full_url(paths.versions_prefix(t.project, t.run_id, t.key))
            path = f"{t.project}/{t.run_id}/{t.key}"
            if path in damaged or any(str(d).startswith(prefix) for d in damaged):
                continue
            _read_latest(walk, t)
    unreferenced = None if listed is None else len(listed - walk.refs.keys())
    return Report(
        root=store.url,
        target=target,
        deep=deep,
        runs=len(runs),
        tables=len(tables),
        versions=walk.versions,
        objects=len(walk.refs),
        bytes=walk.nbytes,
        unreferenced=unreferenced,
        problems=tuple(walk.problems),
    )
