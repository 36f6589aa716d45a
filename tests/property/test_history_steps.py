"""Model test: random module-level ``log`` calls with ``commit`` None/False/True and
explicit or implicit steps give the ``_history`` rows W&B's rules give (#17): a
``commit=False`` log adds to the step being built; the next committing log, a larger
``step=``, or ``finish`` writes it; values logged twice in one step keep the last."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tablelog

_roots = itertools.count()

# (keys with their value, commit, step offset): offset None = no step=, else the step
# the model says comes next plus 0..2 (always a valid, non-decreasing step).
CALLS = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from("abc"), st.integers(0, 99), min_size=1, max_size=3),
        st.sampled_from([None, False, True]),
        st.one_of(st.none(), st.integers(0, 2)),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=CALLS)
def test_commit_and_step_rules_match_the_model(calls: list[Any]) -> None:
    rows: list[dict[str, Any]] = []
    partial: dict[str, Any] | None = None
    partial_step: int | None = None
    last: int | None = None
    run = tablelog.init(project="steps", root=f"memory://steps-{next(_roots)}")
    try:
        for values, commit, offset in calls:
            base = partial_step if partial_step is not None else (0 if last is None else last + 1)
            step = None if offset is None else base + offset
            tablelog.log(values, step=step, commit=commit)
            # the model
            if step is not None and partial_step is not None and step > partial_step:
                rows.append({"_step": partial_step, **(partial or {})})
                last, partial, partial_step = partial_step, None, None
            at = step if step is not None else base
            partial = {**(partial or {}), **values}
            partial_step = at
            if commit is not False:
                rows.append({"_step": at, **partial})
                last, partial, partial_step = at, None, None
    finally:
        tablelog.finish()
    if partial is not None:
        rows.append({"_step": partial_step, **partial})
    if not rows:
        return
    got = tablelog.scan(f"steps/{run.id}/_history", root=run.root).collect()
    keys = [k for k in "abc" if k in got.columns]
    assert [
        {"_step": r["_step"], **{k: r[k] for k in keys if r[k] is not None}}
        for r in got.drop("_time").to_dicts()
    ] == rows
