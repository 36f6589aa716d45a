"""The three meanings of CommitConflictError, each its own class (tablelog/errors.py)."""

from __future__ import annotations

import itertools

import pytest

import tablelog
from tablelog.errors import (
    CommitConflictError,
    CommitTimeoutError,
    ConcurrentChangeError,
    ModeChangeError,
    TablelogError,
    TableSchemaError,
)
from tablelog.format.chain import TableRef
from tablelog.format.commit import commit
from tablelog.format.manifest import Column, ColumnGroup, Fragment
from tablelog.format.plan import Intent, merge_schema, next_manifest
from tablelog.format.state import TableState
from tablelog.objects.memory import MemoryStore

SCHEMA = (Column(name="x", kind="number", arrow="int64"),)
_counter = itertools.count()


def _state(mode: str = "MUTABLE") -> TableState:
    group = ColumnGroup(object="a" * 64, columns=("x",), size=10)
    return TableState(
        version=0,
        digest="d" * 64,
        mode=mode,
        step=0,
        schema=SCHEMA,
        rows=2,
        fragments=(Fragment(id="0.0", rows=2, increment=0, groups=(group,)),),
    )


def _intent(mode: str = "MUTABLE", **kw: object) -> Intent:
    return Intent(mode=mode, writer="w", step=1, schema=SCHEMA, **kw)  # type: ignore[arg-type]


def test_every_subclass_is_still_a_commit_conflict_and_a_tablelog_error() -> None:
    for cls in (TableSchemaError, ModeChangeError, ConcurrentChangeError, CommitTimeoutError):
        assert issubclass(cls, CommitConflictError) and issubclass(cls, TablelogError)
        assert getattr(tablelog, cls.__name__) is cls
    # The caller's mistake is also a bad argument; contention and time are not.
    assert issubclass(TableSchemaError, ValueError) and issubclass(ModeChangeError, ValueError)
    assert not issubclass(ConcurrentChangeError, ValueError)
    assert not issubclass(CommitTimeoutError, ValueError)


def test_another_log_mode_is_the_callers_mistake() -> None:
    with pytest.raises(ModeChangeError, match="was logged as MUTABLE, not INCREMENTAL"):
        next_manifest(_state("MUTABLE"), _intent("INCREMENTAL"), key="k", time=0.0)


def test_a_column_type_clash_is_the_callers_mistake() -> None:
    text = (Column(name="x", kind="text", arrow="string"),)
    with pytest.raises(TableSchemaError, match="column 'x' is number") as exc:
        merge_schema(SCHEMA, text, replace=False)
    assert not isinstance(exc.value, ModeChangeError)
    # widening numbers is no clash
    wider = (Column(name="x", kind="number", arrow="double"),)
    assert merge_schema(SCHEMA, wider, replace=False)[0].arrow == "double"


def test_rows_gone_under_the_writer_is_contention() -> None:
    group = ColumnGroup(object="b" * 64, columns=("y",), size=10)
    gone = _intent(add_groups=(("7.0", group),))
    with pytest.raises(ConcurrentChangeError, match="changed under this writer"):
        next_manifest(_state(), gone, key="k", time=0.0)
    clash = _intent(add_groups=(("0.0", ColumnGroup(object="c" * 64, columns=("x",), size=1)),))
    with pytest.raises(ConcurrentChangeError, match="added by another writer"):
        next_manifest(_state(), clash, key="k", time=0.0)


def test_a_spent_time_budget_is_a_timeout_and_commits_nothing() -> None:
    store = MemoryStore(f"memory://commit-errors-{next(_counter)}")
    ref = TableRef(store, "p", "r", "t")
    stale = TableState()
    commit(ref, stale, _intent("INCREMENTAL"))  # another writer wins version 0
    with pytest.raises(CommitTimeoutError, match="other writers kept winning") as exc:
        commit(ref, stale, _intent("INCREMENTAL"), budget_s=0.0)
    assert isinstance(exc.value, CommitConflictError)
    assert not ref.has_version(1)
