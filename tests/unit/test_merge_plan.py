"""Planning a commit that merges a writer's tail fragments (format/plan.py, run/merge.py)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tablelog import CommitConflictError
from tablelog.format.manifest import Change, Column, ColumnGroup, Fragment, SegmentRef
from tablelog.format.plan import Intent, NewFragment, next_manifest
from tablelog.format.state import TableState, apply_manifest, keeps_segments
from tablelog.writer.keylog import LogJob
from tablelog.writer.merge import Tail

SCHEMA = (Column(name="x", kind="number", arrow="int64"),)


def _group(n: int) -> ColumnGroup:
    return ColumnGroup(object=f"{n:064x}", columns=("x",), size=10)


def _frag(v: int) -> Fragment:
    return Fragment(id=f"{v}.0", rows=2, increment=v, groups=(_group(v),))


def _state(version: int, covered: int) -> TableState:
    """Versions 0..version, one fragment each; the last checkpoint's segments cover
    the first ``covered`` fragments."""
    return TableState(
        version=version,
        digest="d" * 64,
        mode="INCREMENTAL",
        step=version,
        schema=SCHEMA,
        rows=2 * (version + 1),
        fragments=tuple(_frag(v) for v in range(version + 1)),
        segments=(SegmentRef(object="e" * 64, fragments=covered),),
    )


def test_removing_only_fragments_past_the_segments_keeps_them() -> None:
    state = _state(40, covered=33)
    assert keeps_segments(state, Change(remove=("35.0", "40.0")))
    assert not keeps_segments(state, Change(remove=("32.0", "40.0")))  # inside the segments
    assert not keeps_segments(state, Change(replace=True))
    assert not keeps_segments(state, Change(add_groups=(("40.0", _group(99)),)))


def _intent(remove: tuple[str, ...], add: tuple[NewFragment, ...]) -> Intent:
    return Intent(mode="INCREMENTAL", writer="w", step=1, schema=SCHEMA, remove=remove, add=add)


def test_a_merge_at_a_checkpoint_reuses_the_segments_and_keeps_totals() -> None:
    state = _state(63, covered=33)  # fragments 33..63 were appended after checkpoint 32
    tail = tuple(f"{v}.0" for v in range(33, 64))
    merged = NewFragment(rows=62, groups=(_group(1000),), increment=33)
    own = NewFragment(rows=2, groups=(_group(64),))
    plan = next_manifest(state, _intent(tail, (merged, own)), key="k", time=0.0)
    m = plan.manifest
    assert (m.version, m.rows, m.fragments) == (64, 130, 35)
    assert m.change.remove == tail and [f.increment for f in m.change.add] == [33, 64]
    assert m.checkpoint is not None and m.checkpoint[0] == state.segments[0]
    assert [ref.fragments for ref in m.checkpoint] == [33, 2]
    after = apply_manifest(state, m, "f" * 64, where="test")
    assert [f.id for f in after.fragments[-3:]] == ["32.0", "64.0", "64.1"]
    assert after.segments_valid and after.rows == 130


def test_a_merge_of_fragments_another_writer_removed_conflicts() -> None:
    state = _state(10, covered=1)
    with pytest.raises(CommitConflictError, match="fragments it merges are gone"):
        next_manifest(state, _intent(("5.0", "77.0"), ()), key="k", time=0.0)


def test_a_tail_that_cannot_take_the_schema_is_not_merged() -> None:
    state = _state(2, covered=1)
    job = LogJob(key="k", mode="INCREMENTAL", step=3, separate=False, schema=SCHEMA)
    tail = Tail()
    for v in (1, 2):
        tail.fragments.append(state.fragments[v])
        tail.rows.append(pa.table({"x": ["not a number", "x"]}))
    assert tail.merged(state, job) is None
    tail.rows = [pa.table({"x": pa.array([1, 2], pa.int32())}) for _ in (1, 2)]
    merged = tail.merged(state, job)
    assert merged is not None
    assert merged.to_pydict() == {"x": [1, 2, 1, 2], "_increment": [1, 1, 2, 2]}
    assert merged.schema.field("x").type == pa.int64()
