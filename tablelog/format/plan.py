"""Planning a commit: the next manifest from the parent state and a writer's intent (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from tablelog.errors import (
    ConcurrentChangeError,
    InvalidArgumentError,
    ModeChangeError,
    TableSchemaError,
)
from tablelog.format.arrow_types import merged_type
from tablelog.format.manifest import (
    MAX_COMMIT_INCREMENTS,
    Change,
    Column,
    ColumnGroup,
    Fragment,
    Increment,
    Manifest,
    SegmentRef,
    encode_segment,
    is_log_id,
)
from tablelog.format.state import (
    MAX_STEP,
    TableState,
    fragments_after,
    is_checkpoint,
    keeps_segments,
)
from tablelog.objects.cas import digest_of

#: Size-tiered merging of checkpoint segments: merge the last MERGE_FANOUT segments
#: once the oldest of them is no larger than the others together. Each fragment
#: entry is rewritten O(log n) times, and a state has O(log n) segments.
MERGE_FANOUT = 4
MAX_SEGMENT_FRAGMENTS = 50_000


@dataclass(frozen=True, kw_only=True)
class NewFragment:
    """Rows a writer adds: their column groups, uploaded before planning."""

    rows: int
    groups: tuple[ColumnGroup, ...]
    #: The increment the rows belong to; None means this commit's log (format 1: its
    #: version). Compaction re-lists fragments it keeps with their original increments.
    increment: int | None = None
    #: Format 2: the last increment the rows belong to (None: ``increment``); a merged
    #: or compacted fragment holds a range and stores ``_increment``.
    last_increment: int | None = None


@dataclass(frozen=True, kw_only=True)
class Intent:
    """What a writer wants to commit, independent of the version it lands as."""

    mode: str
    writer: str
    step: int | None
    schema: tuple[Column, ...]
    replace: bool = False
    add: tuple[NewFragment, ...] = ()
    add_groups: tuple[tuple[str, ColumnGroup], ...] = ()
    #: Fragments to drop (before ``add``); a writer merging its own small fragments
    #: removes them and adds one fragment holding their rows.
    remove: tuple[str, ...] = ()
    separate: bool = False
    #: Free-form notes recorded in the manifest's ``extra`` (e.g. the operation). A
    #: log's id is ``("log", id)``; format 2 records it as the commit's increment.
    extra: tuple[tuple[str, str], ...] = ()
    #: The format of a new table (version 0); a commit on a table is in its format.
    #: Writers name it (``chain.write_format``); this low-level default is format 1.
    format_version: int = 1
    #: Format 2: the wall time of the log (None: the commit's).
    log_time: float | None = None


@dataclass(frozen=True, kw_only=True)
class LogIntent:
    """Format 2: one log to commit as an increment (docs/format.md, "Increments"): rows
    it appends, uploaded before planning, and what identifies it."""

    log_id: str
    step: int | None
    time: float
    #: The log's columns (merged into the table's schema in log order).
    schema: tuple[Column, ...]
    #: Its fragments; its ``rows`` are theirs (none for the first log of an empty Table).
    add: tuple[NewFragment, ...] = ()
    #: Rows of this log that the commit's ``combined`` fragments hold instead.
    combined_rows: int = 0

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.add) + self.combined_rows


@dataclass(frozen=True, kw_only=True)
class GroupIntent:
    """Format 2: logs of one key to commit together as increments
    (:func:`next_group_manifest`)."""

    mode: str
    writer: str
    logs: tuple[LogIntent, ...]
    separate: bool = False
    extra: tuple[tuple[str, str], ...] = ()
    #: Fragments holding the rows of several of ``logs`` (one object per commit, with
    #: ``_increment``), numbered for the parent they are planned on.
    combined: tuple[NewFragment, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Plan:
    manifest: Manifest
    segments: tuple[tuple[str, bytes], ...]  # (digest, bytes) to upload before the manifest


def merge_schema(
    parent: tuple[Column, ...], mine: tuple[Column, ...], *, replace: bool
) -> tuple[Column, ...]:
    """The schema after a commit: the parent's columns (unless replaced), then new ones."""
    if replace:
        return mine
    if mine == parent:  # (the usual log: the same columns again; cheaper than merging)
        return parent
    by_name = {c.name: c for c in mine}
    out: list[Column] = []
    for c in parent:
        other = by_name.pop(c.name, None)
        out.append(c if other is None else _merge_column(c, other))
    out.extend(c for c in mine if c.name in by_name)
    return tuple(out)


def _merge_column(a: Column, b: Column) -> Column:
    arrow = merged_type(a.arrow, b.arrow)
    if arrow == a.arrow:
        return a
    if a.arrow == "null":
        return b
    if arrow is not None:
        return Column(name=a.name, kind=a.kind, arrow=arrow)
    raise TableSchemaError(
        f"column {a.name!r} is {a.kind} ({a.arrow}) in the table but {b.kind} ({b.arrow}) "
        "in this log; log a table with matching column types or use another key"
    )


def next_manifest(parent: TableState, intent: Intent, *, key: str, time: float) -> Plan:
    """Plan version ``parent.version + 1``; raise a ``CommitConflictError`` if it cannot
    apply (``TableSchemaError`` for the caller's log, ``ConcurrentChangeError`` for
    another writer's change)."""
    version = parent.version + 1
    if parent.exists and parent.mode != intent.mode:
        raise ModeChangeError(
            f"table {key!r} was logged as {parent.mode}, not {intent.mode}: "
            "use the same log_mode for a key, or log under another key"
        )
    extra = dict(intent.extra)
    if intent.step is not None and parent.max_step is not None and intent.step < parent.max_step:
        # Writers of one chain interleaving their steps: the largest step so far is
        # recorded, so that readers can still bisect for a step (chain.version_at_step).
        extra[MAX_STEP] = str(parent.max_step)
    existing = (
        {f.id: f for f in parent.fragments} if intent.add_groups and not intent.replace else {}
    )
    for fid, group in intent.add_groups:
        frag = existing.get(fid)
        if frag is None:
            raise ConcurrentChangeError(
                f"table {key!r} changed under this writer: fragment {fid} it adds columns "
                f"to is gone in version {parent.version}; re-log the whole table"
            )
        have = {c for g in frag.groups for c in g.columns}
        clash = have & set(group.columns)
        if clash:
            raise ConcurrentChangeError(
                f"table {key!r}: column(s) {sorted(clash)} were added by another writer "
                f"(version {parent.version}); re-log under another name"
            )
    removed_rows = _removed_rows(parent, intent, key)
    schema = merge_schema(parent.schema, intent.schema, replace=intent.replace)
    fv = (parent.format_version or 1) if parent.exists else intent.format_version
    if fv == 2 and "log" not in extra and any(f.increment is None for f in intent.add):
        raise InvalidArgumentError(
            f"table {key!r} is format 2: rows a commit adds belong to a log, and this "
            "commit names none (extra 'log')"
        )
    log_id = extra.pop("log", None) if fv == 2 else None
    count = parent.increment_count or 0
    own = version if fv == 1 else count  # the increment of this commit's log
    added = tuple(
        Fragment(
            id=f"{version}.{i}",
            rows=f.rows,
            increment=own if f.increment is None else f.increment,
            last_increment=None if fv == 1 else _last(f, own),
            groups=f.groups,
        )
        for i, f in enumerate(intent.add)
    )
    increments: tuple[Increment, ...] | None = None
    if fv == 2:
        increments = ()
        if log_id is not None:
            new_rows = sum(f.rows for f in intent.add if f.increment is None)
            increments = (
                Increment(
                    number=count,
                    step=intent.step,
                    time=time if intent.log_time is None else intent.log_time,
                    rows=new_rows,
                    log_id=log_id,
                ),
            )
    change = Change(
        replace=intent.replace, add=added, remove=intent.remove, add_groups=intent.add_groups
    )
    # O(new fragments), not O(table): this runs once per log.
    rows = sum(f.rows for f in added) + (0 if intent.replace else parent.rows - removed_rows)
    n_fragments = len(added) + (0 if intent.replace else len(parent.fragments) - len(intent.remove))
    checkpoint = None
    uploads: tuple[tuple[str, bytes], ...] = ()
    if is_checkpoint(version):
        fragments = fragments_after(
            parent.fragments, change, where=f"table {key!r} version {version}"
        )
        checkpoint, uploads = _segments(parent, change, fragments, format_version=fv)
    schema_changed = not parent.exists or schema != parent.schema
    manifest = Manifest(
        format_version=fv,
        key=key,
        version=version,
        parent=parent.digest,
        mode=intent.mode,
        step=intent.step,
        time=time,
        writer=intent.writer,
        # A replace carries its schema so a reader needs no earlier manifest.
        schema=schema if (schema_changed or checkpoint is not None or intent.replace) else None,
        rows=rows,
        fragments=n_fragments,
        change=change,
        checkpoint=checkpoint,
        separate=intent.separate,
        extra=extra,
        increments=increments,
        increment_count=None if increments is None else count + len(increments),
    )
    return Plan(manifest=manifest, segments=uploads)


def _last(f: NewFragment, own: int) -> int:
    if f.last_increment is not None:
        return f.last_increment
    return own if f.increment is None else f.increment


def plan_commit(parent: TableState, intent: Intent | GroupIntent, *, key: str, time: float) -> Plan:
    """The next manifest for ``intent``: a format-1 :class:`Intent`
    (:func:`next_manifest`) or a format-2 :class:`GroupIntent`
    (:func:`next_group_manifest`)."""
    if isinstance(intent, GroupIntent):
        return next_group_manifest(
            parent,
            intent.logs,
            key=key,
            mode=intent.mode,
            writer=intent.writer,
            time=time,
            separate=intent.separate,
            extra=intent.extra,
            combined=intent.combined,
        )
    return next_manifest(parent, intent, key=key, time=time)


def next_group_manifest(
    parent: TableState,
    logs: tuple[LogIntent, ...],
    *,
    key: str,
    mode: str,
    writer: str,
    time: float,
    separate: bool = False,
    extra: tuple[tuple[str, str], ...] = (),
    combined: tuple[NewFragment, ...] = (),
) -> Plan:
    """Plan format-2 version ``parent.version + 1``: one commit adding ``logs`` as
    increments ``parent.increment_count …`` in order (docs/format.md, "Commits"). An
    INCREMENTAL key that keeps its increments together takes 1 … MAX_COMMIT_INCREMENTS
    logs; MUTABLE, IMMUTABLE and ``separate`` keys exactly one. The parent must be a
    format-2 version or none: a format-1 chain stays one log per version.

    The logs' rows are either in their own fragments (``LogIntent.add``) or all in
    ``combined`` fragments, whose increment ranges (absolute, for this parent) lie in
    the commit's and hold as many rows as the logs' ``combined_rows``."""
    version = parent.version + 1
    if parent.exists and parent.format_version != 2:
        raise InvalidArgumentError(
            f"table {key!r} is format {parent.format_version}: a group commit is format 2 "
            "and a format-1 chain stays one log per version (plan it with next_manifest)"
        )
    if parent.exists and parent.mode != mode:
        raise ModeChangeError(
            f"table {key!r} was logged as {parent.mode}, not {mode}: "
            "use the same log_mode for a key, or log under another key"
        )
    most = MAX_COMMIT_INCREMENTS if mode == "INCREMENTAL" and not separate else 1
    if not 1 <= len(logs) <= most:
        if most == 1:
            kind = "separate INCREMENTAL" if separate else mode
            raise InvalidArgumentError(
                f"table {key!r}: a {kind} commit adds exactly one log, not {len(logs)}"
            )
        raise InvalidArgumentError(
            f"table {key!r}: a commit adds 1 to {most} logs, not {len(logs)}"
        )
    seen: set[str] = set()
    for log in logs:
        if not is_log_id(log.log_id) or log.log_id in seen:
            what = "twice" if log.log_id in seen else "not 32 lowercase hex digits"
            raise InvalidArgumentError(f"table {key!r}: log id {log.log_id[:40]!r} is {what}")
        seen.add(log.log_id)
    first = parent.increment_count or 0
    schema = parent.schema
    high = parent.max_step
    increments: list[Increment] = []
    added: list[Fragment] = []
    for n, log in enumerate(logs, start=first):
        schema = merge_schema(schema, log.schema, replace=False)
        # As one version per log would record it (next_manifest, chain.version_at_step).
        high = log.step if log.step is None or high is None or log.step >= high else high
        increments.append(
            Increment(number=n, step=log.step, time=log.time, rows=log.rows, log_id=log.log_id)
        )
        added.extend(
            Fragment(
                id=f"{version}.{len(added) + i}",
                rows=f.rows,
                increment=n,
                last_increment=n,
                groups=f.groups,
            )
            for i, f in enumerate(log.add)
        )
    if combined:
        _check_combined(key, logs, combined, first)
        added.extend(
            Fragment(
                id=f"{version}.{i}",
                rows=f.rows,
                increment=f.increment if f.increment is not None else first,
                last_increment=_last(f, first),
                groups=f.groups,
            )
            for i, f in enumerate(combined)
        )
    step = logs[-1].step
    notes = dict(extra)
    if step is not None and high is not None and high > step:
        notes[MAX_STEP] = str(high)
    change = Change(add=tuple(added))
    checkpoint = None
    uploads: tuple[tuple[str, bytes], ...] = ()
    if is_checkpoint(version):
        checkpoint, uploads = _segments(
            parent, change, parent.fragments + change.add, format_version=2
        )
    schema_changed = not parent.exists or schema != parent.schema
    manifest = Manifest(
        format_version=2,
        key=key,
        version=version,
        parent=parent.digest,
        mode=mode,
        step=step,
        time=time,
        writer=writer,
        schema=schema if (schema_changed or checkpoint is not None) else None,
        rows=parent.rows + sum(f.rows for f in added),
        fragments=len(parent.fragments) + len(added),
        change=change,
        checkpoint=checkpoint,
        separate=separate,
        extra=notes,
        increments=tuple(increments),
        increment_count=first + len(increments),
    )
    return Plan(manifest=manifest, segments=uploads)


def _check_combined(
    key: str, logs: tuple[LogIntent, ...], combined: tuple[NewFragment, ...], first: int
) -> None:
    """``combined`` holds exactly the rows of ``logs`` (numbered from ``first``), in
    order, and the logs none of their own."""
    end = first + len(logs) - 1
    at = first
    for f in combined:
        lo = f.increment
        hi = f.last_increment if f.last_increment is not None else lo
        if lo is None or hi is None or not at <= lo <= hi <= end:
            raise InvalidArgumentError(
                f"table {key!r}: a combined fragment holds increments {lo}..{hi}, not in "
                f"order within this commit's {first}..{end} (planned for another parent?)"
            )
        at = hi
    if any(log.add for log in logs) or sum(f.rows for f in combined) != sum(
        log.combined_rows for log in logs
    ):
        raise InvalidArgumentError(
            f"table {key!r}: combined fragments hold {sum(f.rows for f in combined)} rows, "
            f"the logs {sum(log.combined_rows for log in logs)} (and none of their own)"
        )


def _removed_rows(parent: TableState, intent: Intent, key: str) -> int:
    """Rows of the fragments ``intent`` removes; they must be in ``parent`` (O(removed)
    for removals from the end, as a writer merging its own fragments makes)."""
    if not intent.remove or intent.replace:
        return 0
    gone = set(intent.remove)
    if len(gone) != len(intent.remove):
        raise InvalidArgumentError(f"fragments to remove are listed twice: {intent.remove}")
    rows, found = 0, 0
    for f in reversed(parent.fragments):
        if f.id in gone:
            rows, found = rows + f.rows, found + 1
            if found == len(gone):
                return rows
    raise ConcurrentChangeError(
        f"table {key!r} changed under this writer: fragments it merges are gone in "
        f"version {parent.version}"
    )


def _segment(
    fragments: tuple[Fragment, ...], format_version: int
) -> tuple[SegmentRef, tuple[str, bytes]]:
    data = encode_segment(fragments, format_version=format_version)
    digest = digest_of(data)
    return SegmentRef(object=digest, fragments=len(fragments)), (digest, data)


def _segments(
    parent: TableState,
    change: Change,
    fragments: tuple[Fragment, ...],
    *,
    format_version: int,
) -> tuple[tuple[SegmentRef, ...], tuple[tuple[str, bytes], ...]]:
    uploads: list[tuple[str, bytes]] = []
    if keeps_segments(parent, change):
        segs = list(parent.segments)
        start = parent.segment_fragments
    else:
        segs, start = [], 0
    tail = fragments[start:]
    for i in range(0, len(tail), MAX_SEGMENT_FRAGMENTS):
        ref, up = _segment(tail[i : i + MAX_SEGMENT_FRAGMENTS], format_version)
        segs.append(ref)
        uploads.append(up)
    while len(segs) >= MERGE_FANOUT and segs[-MERGE_FANOUT].fragments <= sum(
        s.fragments for s in segs[-MERGE_FANOUT + 1 :]
    ):
        total = sum(s.fragments for s in segs)
        first = total - sum(s.fragments for s in segs[-MERGE_FANOUT:])
        merged = fragments[first:total]
        if len(merged) > MAX_SEGMENT_FRAGMENTS:
            break
        ref, up = _segment(merged, format_version)
        del segs[-MERGE_FANOUT:]
        segs.append(ref)
        uploads.append(up)
    # A new tail segment that the merge above took in is not uploaded (no debris).
    kept = {s.object for s in segs}
    return tuple(segs), tuple(u for u in uploads if u[0] in kept)
