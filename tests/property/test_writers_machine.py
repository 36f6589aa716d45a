"""State machine: two writers appending to one table, with crashes between uploading
data and committing. The chain stays linear, every referenced object exists, and the
table holds exactly the rows whose logs returned."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest
import scale
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import tablelog
from tablelog.data.groups import upload_group
from tablelog.format import paths
from tablelog.format.chain import TableRef, latest_version, read_history
from tablelog.objects import open_store

_roots = itertools.count()
WRITERS = ("a", "b")


class TwoWriters(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = f"memory://machine-{next(_roots)}"
        self.runs = {w: self._open() for w in WRITERS}
        self.tables = {w: self._table() for w in WRITERS}
        self.expected: list[tuple[str, int]] = []  # (writer, value) of committed rows
        self.counter = itertools.count()

    def _open(self) -> tablelog.Run:
        return tablelog.init(project="p", id="r", resume="allow", root=self.root, sync=True)

    @staticmethod
    def _table() -> tablelog.Table:
        return tablelog.Table(columns=["w", "v"], log_mode="INCREMENTAL")

    @rule(writer=st.sampled_from(WRITERS), rows=st.integers(1, 3))
    def append(self, writer: str, rows: int) -> None:
        table = self.tables[writer]
        new = [(writer, next(self.counter)) for _ in range(rows)]
        for row in new:
            table.add_data(*row)
        self.runs[writer].log({"t": table})
        self.expected.extend(new)

    @rule(writer=st.sampled_from(WRITERS), rows=st.integers(1, 3))
    def crash_after_upload(self, writer: str, rows: int) -> None:
        """The writer uploads its data object, then dies before creating the manifest."""
        store = open_store(self.root)
        ref = TableRef(store, "p", "r", "t")
        data = pa.table({"w": [writer] * rows, "v": [-1] * rows})
        upload_group(ref, data)  # an orphan: no manifest will reference it
        self.runs[writer] = self._open()  # the restarted writer resumes the run
        self.tables[writer] = self._table()

    @invariant()
    def chain_is_linear_and_complete(self) -> None:
        store = open_store(self.root)
        ref = TableRef(store, "p", "r", "t")
        latest = latest_version(ref)
        parent = None
        for v, (m, digest) in enumerate(read_history(ref, latest)):
            assert m.version == v and m.parent == parent
            parent = digest
            for f in m.change.add:
                for g in f.groups:
                    assert store.exists(paths.object_key(g.object))
        if latest >= 0:
            df = tablelog.scan("p/r/t", root=self.root).collect()
            assert sorted(df.select("w", "v").rows()) == sorted(self.expected)


# 200 examples (~70 s) in CI's full-scale pass, 50 in make test (tests/scale.py).
TwoWriters.TestCase.settings = settings(
    max_examples=scale.pick(50, 200), stateful_step_count=20, deadline=None
)
test_two_writers = pytest.mark.scaled(TwoWriters.TestCase)
