"""A writer merging its own small INCREMENTAL fragments as it logs.

One fragment per log makes a long run's latest version thousands of tiny objects,
and reading it costs one object open per log. So at each checkpoint version (every
32nd) a writer whose own logs are all the fragments after the last checkpoint's
segments removes them and adds one object holding their rows, in the same order, with
each row's increment in an ``_increment`` column (as compaction stores it), followed
by the log's own fragment. The version's rows are the same either way; older versions
keep their objects. The rows come from memory (the writer still holds what it
uploaded), so a merge reads nothing back. See docs/format.md, "Merged fragments".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pyarrow as pa

from tablelog.data.tagged import tagged_rows
from tablelog.errors import TableSchemaError
from tablelog.format import paths
from tablelog.format.manifest import Fragment
from tablelog.format.plan import merge_schema
from tablelog.format.state import TableState, is_checkpoint
from tablelog.writer.keylog import LogJob, arrow_bytes

log = logging.getLogger("tablelog")

#: The rows a writer (one ``Run``, all its keys) keeps for merging, at most (Arrow
#: bytes). Fragments this large gain little from merging; past the cap a key's window
#: is not merged.
MERGE_MAX_BYTES = 8 << 20


def mergeable(job: LogJob) -> bool:
    """Whether ``job`` appends a fragment a later merge may take in. ``_history`` is
    never merged: it is read untagged, by each fragment's ``increment``."""
    return (
        job.mode == "INCREMENTAL"
        and not job.separate
        and not job.replace
        and job.new_columns is None
        and job.writes_rows
        and not paths.is_history(job.key)
    )


@dataclass
class Budget:
    """Bytes of rows all of a writer's tails hold (they run on one thread)."""

    held: int = 0


@dataclass
class Tail:
    """This writer's fragments after the last checkpoint's segments, with their rows."""

    budget: Budget = field(default_factory=Budget)
    fragments: list[Fragment] = field(default_factory=list)
    rows: list[pa.Table] = field(default_factory=list)
    nbytes: int = 0
    #: Over the byte cap (or not mergeable) since the last checkpoint: no merge.
    spoiled: bool = False

    def clear(self) -> None:
        self.budget.held -= self.nbytes
        self.fragments, self.rows, self.nbytes, self.spoiled = [], [], 0, False

    def track(self, state: TableState, job: LogJob) -> None:
        """After ``job`` committed as ``state``'s version: its fragment joins the tail."""
        if is_checkpoint(state.version):
            self.clear()  # the checkpoint's segments list everything up to here
            return
        if self.spoiled:
            return
        rows = job.rows
        size = 0 if rows is None else arrow_bytes(rows)
        if (
            not mergeable(job)
            or rows is None
            or not state.fragments
            or self.budget.held + size > MERGE_MAX_BYTES
        ):
            self.clear()
            self.spoiled = True
            return
        self.nbytes += size
        self.budget.held += size
        self.fragments.append(state.fragments[-1])
        self.rows.append(rows)

    def due(self, state: TableState, job: LogJob) -> bool:
        """Whether committing ``job`` on ``state`` should merge the tail: the next
        version is a checkpoint and the fragments past its parent's segments are
        exactly this writer's tail (no other writer appended in between)."""
        if self.spoiled or len(self.fragments) < 2 or not mergeable(job):
            return False
        if not is_checkpoint(state.version + 1) or not state.segments_valid:
            return False
        after = state.fragments[state.segment_fragments :]
        return len(after) == len(self.fragments) and all(
            a.id == b.id for a, b in zip(after, self.fragments, strict=True)
        )

    def merged(self, state: TableState, job: LogJob) -> pa.Table | None:
        """The tail's rows as one table in the schema ``job``'s version will have, plus
        ``_increment``; None if a column cannot be converted."""
        try:
            schema = merge_schema(state.schema, job.schema, replace=False)
        except TableSchemaError:
            return None  # the commit itself reports it
        try:
            parts = [(rows, f.increment) for f, rows in zip(self.fragments, self.rows, strict=True)]
            return tagged_rows(parts, schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            log.debug("tablelog: not merging the fragments of %s: %s", job.key, e)
            return None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.fragments)
