"""Model test: random add_data / add_column / log / resume sequences in every mode,
checked against a plain-Python reference at every version."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tablelog

_roots = itertools.count()

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 4)),
        st.tuples(st.just("col"), st.integers(0, 0)),
        st.tuples(st.just("log"), st.integers(0, 0)),
        st.tuples(st.just("resume"), st.integers(0, 0)),
    ),
    max_size=25,
)


class Model:
    """What every version of the key must read back as."""

    def __init__(self, mode: str, separate: bool) -> None:
        self.mode, self.separate = mode, separate
        self.columns = ["a", "b"]
        self.rows: list[dict[str, Any]] = []  # rows of the current Table
        self.logged_rows = 0  # rows of the current Table already logged
        self.logged_cols: list[str] = []
        self.all_logged: list[dict[str, Any]] = []  # INCREMENTAL: every row ever logged
        self.versions: list[list[dict[str, Any]]] = []
        self.frozen = False
        #: Whether the current Table was logged (its first log makes an increment even
        #: when it is empty, as in W&B).
        self.table_logged = False

    def log(self) -> None:
        if self.mode == "IMMUTABLE":
            if self.frozen:
                return
            self.versions.append([dict(r) for r in self.rows])
            self.frozen = True
        elif self.mode == "MUTABLE":
            changed = len(self.rows) > self.logged_rows or self.columns != self.logged_cols
            if self.versions and not changed:
                return
            self.versions.append([dict(r) for r in self.rows])
        else:
            new = self.rows[self.logged_rows :]
            if not new and self.table_logged:
                return
            self.table_logged = True
            self.all_logged.extend(new)
            self.versions.append(list(new) if self.separate else list(self.all_logged))
        self.logged_rows, self.logged_cols = len(self.rows), list(self.columns)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(["IMMUTABLE", "MUTABLE", "INCREMENTAL"]),
    separate=st.booleans(),
    ops=OPS,
)
def test_every_version_matches_the_model(mode: str, separate: bool, ops: list[Any]) -> None:
    root = f"memory://model-{next(_roots)}"
    model = Model(mode, separate and mode == "INCREMENTAL")
    counter = itertools.count()

    def new_run() -> tablelog.Run:
        run = tablelog.init(project="p", id="r", resume="allow", root=root)
        if model.separate:
            run.define_metric("k", summary="none")
        return run

    run = new_run()
    table = tablelog.Table(columns=["a", "b"], log_mode=mode)
    for op, n in ops:
        if op == "add":
            if model.frozen:  # IMMUTABLE tables are final once logged: start a new one
                table = tablelog.Table(columns=list(model.columns[:2]), log_mode=mode)
                model.rows, model.columns, model.frozen = [], ["a", "b"], False
                model.logged_rows, model.logged_cols = 0, []
            for _ in range(n):
                row = {c: next(counter) for c in model.columns}
                table.add_data(*row.values())
                model.rows.append(row)
        elif op == "col" and mode == "MUTABLE":
            name = f"c{len(model.columns)}"
            values = [next(counter) for _ in model.rows]
            table.add_column(name, values)
            model.columns.append(name)
            for r, v in zip(model.rows, values, strict=True):
                r[name] = v
        elif op == "log":
            run.log({"k": table})
            model.log()
        elif op == "resume" and mode == "INCREMENTAL":
            run.finish()
            run = new_run()
            table = tablelog.Table(columns=["a", "b"], log_mode=mode)
            model.rows, model.logged_rows, model.table_logged = [], 0, False
    run.finish()

    if not model.versions:
        return
    if mode == "INCREMENTAL" and not model.separate:
        # Logs that queued behind a busy commit thread share a version (format 2): each
        # log is an increment, read as of its step.
        incs = tablelog.history("p/r/k", root=root, per="increment")
        assert incs.height == len(model.versions)
        reads = [{"step": s} for s in incs["step"].to_list()]
    else:  # one version per log
        assert tablelog.history("p/r/k", root=root).height == len(model.versions)
        reads = [{"version": v} for v in range(len(model.versions))]
    for v, (expected, at) in enumerate(zip(model.versions, reads, strict=True)):
        got = tablelog.scan("p/r/k", root=root, **at).collect()
        if "_increment" in got.columns:
            got = got.drop("_increment")
        assert got.to_dicts() == expected, f"version {v}"
