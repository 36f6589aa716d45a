"""The state of a table at a version, rebuilt from its manifest chain (pure)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tablelog.errors import FormatError, InvalidArgumentError
from tablelog.format import paths
from tablelog.format.manifest import Change, Column, Fragment, Manifest, SegmentRef

#: Every CHECKPOINT_EVERY-th version lists the full state (as segments), so reading
#: any version needs at most this many manifests.
CHECKPOINT_EVERY = 32
#: ``extra`` key of a manifest whose step is below an earlier version's: the largest
#: step of the chain so far (docs/format.md, "Steps").
MAX_STEP = "max_step"


@dataclass(frozen=True, kw_only=True)
class TableState:
    """What version ``version`` of a table holds (``version == -1``: no version yet)."""

    version: int = -1
    digest: str | None = None
    mode: str | None = None
    step: int | None = None
    time: float | None = None
    schema: tuple[Column, ...] = ()
    rows: int = 0
    fragments: tuple[Fragment, ...] = ()
    #: Segments of the last checkpoint; they cover ``fragments[:segment_fragments]``
    #: while ``segments_valid`` (since that checkpoint only appends, and removals of
    #: fragments after that prefix: see ``keeps_segments``).
    segments: tuple[SegmentRef, ...] = ()
    segments_valid: bool = True
    separate: bool = False
    #: The largest step of versions 0..version (what readers bisect on).
    max_step: int | None = None
    #: Format 2: the number of increments of versions 0..version (the next increment's
    #: number); None in format 1 and before version 0. It also says the chain's format.
    increment_count: int | None = None
    #: Format 2, a reader's view only: rows of increments after this one are not part
    #: of this state (``step=`` chose an increment inside a coalesced commit, which
    #: ``version`` holds with later ones; ``rows`` counts up to it). Never a parent.
    through_increment: int | None = None

    @property
    def format_version(self) -> int | None:
        """The chain's format (docs/format.md, "Format per table"); None before version 0."""
        if not self.exists:
            return None
        return 1 if self.increment_count is None else 2

    @property
    def exists(self) -> bool:
        return self.version >= 0

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.schema)

    @property
    def segment_fragments(self) -> int:
        return sum(s.fragments for s in self.segments)


def max_step_of(m: Manifest) -> int | None:
    """The largest step of the chain up to ``m``: its ``extra.max_step`` when a writer
    recorded one (its own step was smaller), else its step."""
    recorded = m.extra.get(MAX_STEP)
    if isinstance(recorded, str) and recorded.isdigit() and len(recorded) <= 20:
        high = int(recorded)
        return high if m.step is None or high > m.step else m.step
    return m.step


def count_before(m: Manifest) -> int | None:
    """The table's ``increment_count`` before manifest ``m`` (None in format 1): what a
    reader that starts from ``m`` alone (a replacing version) gives its parent."""
    if m.increment_count is None:
        return None
    return m.increment_count - len(m.increments or ())


def tags_increments(state: TableState, key: str) -> bool:
    """Whether the rows of ``state`` (a version of table ``key``) are read with their
    increment in an ``_increment`` column (docs/format.md, "Log modes"): an INCREMENTAL
    table that keeps its increments together; not one whose increments are separate
    tables (``summary="none"``), and not a run's ``_history``."""
    return state.mode == "INCREMENTAL" and not state.separate and not paths.is_history(key)


def is_checkpoint(version: int) -> bool:
    return version % CHECKPOINT_EVERY == 0


def keeps_segments(state: TableState, change: Change) -> bool:
    """Whether the segments ``state`` inherits still cover a prefix of the fragments after
    ``change``: it appends, and removes (if anything) only fragments past that prefix."""
    if not state.segments_valid or change.replace or change.add_groups:
        return False
    if not change.remove:
        return True
    tail = {f.id for f in state.fragments[state.segment_fragments :]}
    return set(change.remove) <= tail


def apply_manifest(state: TableState, m: Manifest, digest: str, *, where: str) -> TableState:
    """The state after manifest ``m`` (whose bytes hash to ``digest``) on top of ``state``."""
    if state.through_increment is not None:
        raise InvalidArgumentError(
            "a state cut at an increment (a reader's view) is no commit's parent"
        )
    if m.version != state.version + 1:
        raise FormatError(f"{where}: version {m.version} does not follow {state.version}")
    if state.digest is not None and m.parent != state.digest:
        raise FormatError(
            f"{where}: parent digest {str(m.parent)[:12]}… does not match version "
            f"{state.version} ({state.digest[:12]}…): the chain is broken or was tampered with"
        )
    increment_count = _check_increments(state, m, where)
    if m.change.is_append:  # the common case, O(new fragments)
        frags = state.fragments + m.change.add
        rows = state.rows + sum(f.rows for f in m.change.add)
    else:
        frags = fragments_after(state.fragments, m.change, where=where)
        rows = sum(f.rows for f in frags)
    new = TableState(
        version=m.version,
        digest=digest,
        mode=m.mode,
        step=m.step,
        time=m.time,
        schema=m.schema if m.schema is not None else state.schema,
        rows=rows,
        fragments=frags,
        segments=m.checkpoint if m.checkpoint is not None else state.segments,
        segments_valid=m.checkpoint is not None or keeps_segments(state, m.change),
        separate=m.separate,
        max_step=max_step_of(m),
        increment_count=increment_count,
    )
    return _check_totals(new, m, where)


def kept_fragments(fragments: tuple[Fragment, ...], change: Change) -> list[Fragment]:
    """The parent's ``fragments`` that ``change`` keeps, in order, before its additions:
    none for a replace, else all but the removed ones."""
    if change.replace:
        return []
    if not change.remove:
        return list(fragments)
    gone = set(change.remove)
    return [f for f in fragments if f.id not in gone]


def fragments_after(
    fragments: tuple[Fragment, ...], change: Change, *, where: str
) -> tuple[Fragment, ...]:
    """The fragments after ``change`` on top of the parent's ``fragments``
    (docs/format.md, "`change`"): the kept ones, with their added column groups, then the
    added fragments. A group for a fragment that is not there is a :class:`FormatError`
    (at ``where``)."""
    frags = kept_fragments(fragments, change)
    if change.add_groups:
        index = {f.id: i for i, f in enumerate(frags)}
        for fid, group in change.add_groups:
            if fid not in index:
                raise FormatError(f"{where}: column group added to unknown fragment {fid!r}")
            f = frags[index[fid]]
            frags[index[fid]] = dataclasses.replace(f, groups=(*f.groups, group))
    frags.extend(change.add)
    return tuple(frags)


def state_from_checkpoint(
    m: Manifest, digest: str, fragments: tuple[Fragment, ...], *, where: str
) -> TableState:
    """The state a checkpoint manifest lists (``fragments`` read from its segments)."""
    if m.checkpoint is None or m.schema is None:
        raise FormatError(f"{where}: version {m.version} should be a checkpoint but is not")
    if (m.format_version == 1) != (m.increment_count is None):
        raise FormatError(
            f"{where}: format-{m.format_version} version {m.version} has no increment_count"
            if m.format_version != 1
            else f"{where}: a format-1 version {m.version} lists increments"
        )
    _check_fragments(m, fragments, m.increment_count, where=where, listed="its segments list")
    state = TableState(
        version=m.version,
        digest=digest,
        mode=m.mode,
        step=m.step,
        time=m.time,
        schema=m.schema,
        rows=sum(f.rows for f in fragments),
        fragments=fragments,
        segments=m.checkpoint,
        segments_valid=True,
        separate=m.separate,
        max_step=max_step_of(m),
        increment_count=m.increment_count,
    )
    return _check_totals(state, m, where)


def _check_increments(state: TableState, m: Manifest, where: str) -> int | None:
    """The rules between manifest ``m`` and its parent ``state`` (docs/format.md,
    "Parsing format 2"): the chain keeps its format, and a format-2 manifest numbers its
    increments on from the parent's count; returns the chain's ``increment_count`` after
    ``m`` (None in format 1). O(increments + new fragments)."""
    if state.exists and state.format_version != m.format_version:
        raise FormatError(
            f"{where}: version {m.version} is format {m.format_version} but its parent, "
            f"version {state.version}, is format {state.format_version}: a chain never "
            "changes format (the chain is broken or was tampered with)"
        )
    if m.format_version == 1:
        if m.increments is not None or m.increment_count is not None:
            raise FormatError(f"{where}: a format-1 version {m.version} lists increments")
        _check_fragments(m, m.change.add, None, where=where, listed="it adds")
        return None
    if m.increments is None or m.increment_count is None:
        raise FormatError(f"{where}: format-2 version {m.version} lists no increments")
    before = state.increment_count or 0
    numbers = [i.number for i in m.increments]
    if numbers != list(range(before, before + len(numbers))):
        raise FormatError(
            f"{where}: version {m.version} adds increments {numbers[:3]}…, but the table has "
            f"{before} increments before it (numbers {before}, {before + 1}, … were due): "
            "the chain is broken or was tampered with"
        )
    if m.increment_count != before + len(numbers):
        raise FormatError(
            f"{where}: version {m.version} says increment_count {m.increment_count}, the "
            f"chain gives {before} + {len(numbers)} = {before + len(numbers)}"
        )
    _check_fragments(m, m.change.add, m.increment_count, where=where, listed="it adds")
    return m.increment_count


def _check_fragments(
    m: Manifest, fragments: tuple[Fragment, ...], count: int | None, *, where: str, listed: str
) -> None:
    """``fragments`` (those ``m`` adds, or its checkpoint lists) are of ``m``'s format,
    and in format 2 hold only increments below ``count``, the table's."""
    for f in fragments:
        if (f.last_increment is None) != (m.format_version == 1):
            raise FormatError(
                f"{where}: fragment {f.id} that version {m.version} {listed} is not of the "
                f"version's format {m.format_version}"
            )
        if count is not None and f.last_increment is not None and f.last_increment >= count:
            raise FormatError(
                f"{where}: fragment {f.id} that version {m.version} {listed} holds "
                f"increments {f.increment}..{f.last_increment}, but the table has {count} "
                "increments"
            )


def _check_totals(state: TableState, m: Manifest, where: str) -> TableState:
    if state.rows != m.rows or len(state.fragments) != m.fragments:
        raise FormatError(
            f"{where}: manifest says {m.rows} rows in {m.fragments} fragments, the chain "
            f"gives {state.rows} rows in {len(state.fragments)}"
        )
    return state
