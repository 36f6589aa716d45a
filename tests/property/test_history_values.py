"""Scalars logged to ``_history`` read back as logged, in the order logged, or are
refused by ``run.log`` with a RunError: whichever way ``run.log`` converts them (the
usual ints, floats, strs and bools together in one call, anything else on its own)."""

from __future__ import annotations

import enum
import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tablelog

_roots = itertools.count()

_INT64 = range(-(2**63), 2**63)

#: A value and what reads back: the value, None (NaN is a null), or "refused".
VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([2**63, -(2**63) - 1, 2**64]),  # beyond int64: refused
    st.floats(),
    st.text(max_size=5),
    st.sampled_from(["\ud800", "a\udfffb"]),  # lone surrogates: refused
    st.booleans(),
    st.lists(st.integers(0, 9), max_size=3),  # not plain: stored as JSON text
)


def _expected(value: Any) -> Any:
    if type(value) is int and value not in _INT64:
        return "refused"
    if type(value) is str and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return "refused"
    if type(value) is float and math.isnan(value):
        return None
    if type(value) is list:
        return json.dumps(value)
    return value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=st.dictionaries(st.sampled_from("abcdefgh"), VALUES, min_size=1, max_size=6))
def test_history_values_read_back_or_are_refused(row: dict[str, Any]) -> None:
    expected = {k: _expected(v) for k, v in row.items()}
    root = f"memory://history-values-{next(_roots)}"
    run = tablelog.init(project="h", root=root)
    try:
        if "refused" in expected.values():
            with pytest.raises(tablelog.RunError, match="cannot log"):
                run.log(row, step=0)
            return
        run.log(row, step=0)
    finally:
        run.finish()
    got = tablelog.scan(f"h/{run.id}/_history", root=root).collect()
    assert got.columns == ["_step", "_time", *row]  # (the order logged)
    (read,) = got.drop("_step", "_time").to_dicts()
    for key, want in expected.items():
        if isinstance(want, float) and isinstance(read[key], float):
            assert math.copysign(1, read[key]) == math.copysign(1, want)  # (-0.0 stays)
        assert read[key] == want, key


class _Phase(enum.IntEnum):
    EVAL = 5


def test_steps_of_other_integer_types_are_plain_steps() -> None:
    root = f"memory://history-values-{next(_roots)}"
    run = tablelog.init(project="h", root=root)
    for step in (_Phase.EVAL, np.int64(6), 7.0):
        run.log({"loss": 1.0}, step=step)  # type: ignore[arg-type]
    run.finish()
    got = tablelog.scan(f"h/{run.id}/_history", root=root).collect()
    assert got["_step"].to_list() == [5, 6, 7]


def test_the_step_after_the_largest_is_refused_and_changes_nothing() -> None:
    root = f"memory://history-values-{next(_roots)}"
    run = tablelog.init(project="h", root=root)
    run.log({"loss": 1.0}, step=2**63 - 1)
    table = tablelog.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    with pytest.raises(tablelog.RunError, match="would be 9223372036854775808"):
        run.log({"t": table, "loss": 2.0})
    run.finish()
    got = tablelog.scan(f"h/{run.id}/_history", root=root).collect()
    assert got.select("_step", "loss").rows() == [(2**63 - 1, 1.0)]
    with pytest.raises(tablelog.NotFoundError):  # (the table was refused with the log)
        tablelog.scan(f"h/{run.id}/t", root=root)
