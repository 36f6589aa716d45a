"""State machine: one INCREMENTAL Table, logged step by step by a background-committing
run, while its rows are added (plain values, handed over unconverted, and nulls, which
are not), committed rows are released from memory, its column is cast, and the caller
reads it. The Table always reads as the rows added, each once, and the store holds
exactly the rows logged. (Table.cast once kept released rows twice; a generated run of
a few rules finds that, and any Table change that forgets its released rows.)"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import scale
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import tablelog

_roots = itertools.count()

#: A row: an int (or None: the general conversion), text, an array of 2 float32s.
ROWS = st.lists(
    st.tuples(st.none() | st.integers(-1000, 1000), st.text(max_size=4), st.integers(-9, 9)),
    min_size=1,
    max_size=4,
)


class LoggedTable(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = f"memory://table-machine-{next(_roots)}"
        self.run = tablelog.init(project="p", id="r", root=self.root)
        self.table = tablelog.Table(columns=["a", "s", "e"], log_mode="INCREMENTAL")
        self.rows: list[dict[str, Any]] = []  # every row added, as it reads back
        self.logged = 0  # how many of them the last log sent
        self.step = 0

    @rule(rows=ROWS)
    def add(self, rows: list[tuple[int | None, str, int]]) -> None:
        for a, s, e in rows:
            self.table.add_data(a, s, np.full(2, e, dtype=np.float32))
            self.rows.append({"a": a, "s": s, "e": [float(e)] * 2})

    @rule()
    def log(self) -> None:
        self.run.log({"t": self.table}, step=self.step)
        self.step += 1
        self.logged = len(self.rows)

    @rule()
    def flush(self) -> None:
        self.run.flush()  # (committed rows are released from the Table's memory)

    @rule(flush=st.booleans())
    def log_and_flush(self, flush: bool) -> None:
        self.log()
        if flush:
            self.flush()

    @rule()
    def cast_to_float(self) -> None:
        # (again and again: each cast is a change every row, released or not, must get)
        self.table.cast("a", pa.float64(), optional=True)  # (None stays allowed)

    @invariant()
    def reads_as_added(self) -> None:
        got = self.table.to_arrow().to_pylist()
        assert got == self.rows  # (1 == 1.0: a cast column compares equal)
        assert self.table.num_rows == len(self.rows)

    def teardown(self) -> None:
        self.run.finish()
        if self.step:
            got = tablelog.scan("p/r/t", root=self.root).collect()
            assert got.select(["a", "s", "e"]).to_dicts() == self.rows[: self.logged]


# 100 examples in CI's full-scale pass, 30 in make test (tests/scale.py).
LoggedTable.TestCase.settings = settings(
    max_examples=scale.pick(30, 100), stateful_step_count=20, deadline=None
)
test_logged_table = pytest.mark.scaled(LoggedTable.TestCase)
