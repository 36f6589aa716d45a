"""Planning a format-2 commit of several logs (docs/format.md, "Commits"): one manifest,
increments numbered on from the parent's, and each refusal with its message."""

from __future__ import annotations

import re

import pytest

from tablelog.errors import InvalidArgumentError, ModeChangeError
from tablelog.format.manifest import (
    MAX_COMMIT_INCREMENTS,
    Column,
    ColumnGroup,
    encode_manifest,
    parse_manifest,
    parse_segment,
)
from tablelog.format.plan import Intent as Intent1
from tablelog.format.plan import (
    LogIntent,
    NewFragment,
    Plan,
    next_group_manifest,
    next_manifest,
)
from tablelog.format.state import CHECKPOINT_EVERY, MAX_STEP, TableState, apply_manifest
from tablelog.objects.cas import digest_of

A = (Column(name="a", kind="number", arrow="int64"),)
B = (Column(name="b", kind="text", arrow="large_string"),)
GROUP = ColumnGroup(object="ab" * 32, columns=("a",), size=10)


def _log(
    n: int, *, step: int | None = None, rows: int = 2, schema: tuple[Column, ...] = A
) -> LogIntent:
    return LogIntent(
        log_id=f"{n:032x}",
        step=n if step is None else step,
        time=float(n),
        schema=schema,
        add=(NewFragment(rows=rows, groups=(GROUP,)),) if rows else (),
    )


def _commit(
    state: TableState,
    logs: list[LogIntent],
    mode: str = "INCREMENTAL",
    segments: dict[str, bytes] | None = None,
) -> TableState:
    """Plan, encode, parse as format 2 and apply; the plan's segments go to ``segments``."""
    plan = next_group_manifest(state, tuple(logs), key="k", mode=mode, writer="w", time=9.0)
    data = encode_manifest(plan.manifest)
    parsed = parse_manifest(data, where="u", max_format=2)
    assert parsed == plan.manifest
    if segments is not None:
        segments.update(plan.segments)
    return apply_manifest(state, parsed, digest_of(data), where="u")


def test_one_commit_of_several_logs() -> None:
    logs = [_log(0, schema=A), _log(1, rows=0, schema=B), _log(2, rows=3)]
    plan = next_group_manifest(
        TableState(), tuple(logs), key="k", mode="INCREMENTAL", writer="w", time=9.0
    )
    m = plan.manifest
    assert (m.format_version, m.version, m.step, m.time, m.increment_count) == (2, 0, 2, 9.0, 3)
    assert m.increments is not None
    assert [(i.number, i.step, i.time, i.rows, i.log_id) for i in m.increments] == [
        (n, n, float(n), r, f"{n:032x}") for n, r in [(0, 2), (1, 0), (2, 3)]
    ]
    assert [(f.id, f.rows, f.increment, f.last_increment) for f in m.change.add] == [
        ("0.0", 2, 0, 0),
        ("0.1", 3, 2, 2),
    ]
    assert m.schema == A + B and m.rows == 5 and m.fragments == 2
    assert m.extra == {}
    state = _commit(TableState(), logs)
    after = _commit(state, [_log(3), _log(4)])
    assert (after.version, after.increment_count, after.rows, after.schema) == (1, 5, 9, A + B)
    assert [f.id for f in after.fragments] == ["0.0", "0.1", "1.0", "1.1"]
    assert [f.increment for f in after.fragments] == [0, 2, 3, 4]


def test_a_step_that_goes_back_inside_a_commit_is_recorded_as_one_log_per_version_would() -> None:
    plan = next_group_manifest(
        TableState(),
        (_log(0, step=9), _log(1, step=4)),
        key="k",
        mode="INCREMENTAL",
        writer="w",
        time=1.0,
    )
    assert plan.manifest.step == 4 and plan.manifest.extra == {MAX_STEP: "9"}
    state = _commit(TableState(), [_log(0, step=9), _log(1, step=4)])
    assert state.max_step == 9


def test_a_checkpoint_lists_format_2_segments() -> None:
    state, uploaded = TableState(), dict[str, bytes]()
    for v in range(CHECKPOINT_EVERY + 1):
        before = state
        state = _commit(state, [_log(2 * v), _log(2 * v + 1)], segments=uploaded)
    assert state.version == CHECKPOINT_EVERY and state.segments != before.segments
    listed = []
    for ref in state.segments:
        assert digest_of(uploaded[ref.object]) == ref.object
        listed.extend(
            parse_segment(uploaded[ref.object], where="s", max_format=2, format_version=2)
        )
    assert tuple(listed) == state.fragments


def test_mutable_and_immutable_commit_one_log() -> None:
    for mode in ("MUTABLE", "IMMUTABLE"):
        state = _commit(TableState(), [_log(0)], mode=mode)
        assert (state.mode, state.increment_count) == (mode, 1)


def _refusal(state: TableState, logs: list[LogIntent], **kw: object) -> str:
    args: dict[str, object] = {"key": "k", "mode": "INCREMENTAL", "writer": "w", "time": 1.0}
    args.update(kw)
    with pytest.raises((InvalidArgumentError, ModeChangeError)) as e:
        next_group_manifest(state, tuple(logs), **args)  # type: ignore[arg-type]
    return str(e.value)


def test_a_format_1_chain_is_never_upgraded() -> None:
    intent = Intent1(mode="INCREMENTAL", writer="w", step=0, schema=A)
    m = next_manifest(TableState(), intent, key="k", time=1.0).manifest
    f1 = apply_manifest(TableState(), m, digest_of(encode_manifest(m)), where="u")
    assert f1.format_version == 1
    assert _refusal(f1, [_log(0)]) == (
        "table 'k' is format 1: a group commit is format 2 and a format-1 chain stays one "
        "log per version (plan it with next_manifest)"
    )


def test_refusals() -> None:
    empty = TableState()
    assert _refusal(empty, []) == "table 'k': a commit adds 1 to 256 logs, not 0"
    many = [_log(n) for n in range(MAX_COMMIT_INCREMENTS + 1)]
    assert _refusal(empty, many) == "table 'k': a commit adds 1 to 256 logs, not 257"
    assert _commit(empty, many[:-1]).increment_count == MAX_COMMIT_INCREMENTS
    two = [_log(0), _log(1)]
    assert _refusal(empty, two, mode="MUTABLE") == (
        "table 'k': a MUTABLE commit adds exactly one log, not 2"
    )
    assert _refusal(empty, two, mode="IMMUTABLE") == (
        "table 'k': a IMMUTABLE commit adds exactly one log, not 2"
    )
    assert _refusal(empty, two, separate=True) == (
        "table 'k': a separate INCREMENTAL commit adds exactly one log, not 2"
    )
    assert _refusal(empty, [_log(0), _log(0)]) == (f"table 'k': log id {'0' * 32!r} is twice")
    bad = LogIntent(log_id="A" * 32, step=0, time=1.0, schema=A)
    assert _refusal(empty, [bad]) == (
        f"table 'k': log id {'A' * 32!r} is not 32 lowercase hex digits"
    )
    state = _commit(empty, [_log(0)])
    assert _refusal(state, [_log(1)], mode="MUTABLE") == (
        "table 'k' was logged as INCREMENTAL, not MUTABLE: use the same log_mode for a key, "
        "or log under another key"
    )
    assert re.search("log id", _refusal(state, [_log(0), _log(0)]))


def _apply(state: TableState, plan: Plan) -> TableState:
    data = encode_manifest(plan.manifest)
    parsed = parse_manifest(data, where="u", max_format=2)
    assert parsed == plan.manifest
    return apply_manifest(state, parsed, digest_of(data), where="u")


def test_combined_fragments_hold_the_rows_of_several_logs() -> None:
    state = _commit(TableState(), [_log(0)])
    logs = tuple(
        LogIntent(log_id=f"{n:032x}", step=n, time=1.0, schema=A, combined_rows=r)
        for n, r in ((1, 2), (2, 0), (3, 4))
    )
    both = NewFragment(rows=6, groups=(GROUP,), increment=1, last_increment=3)
    plan = next_group_manifest(
        state, logs, key="k", mode="INCREMENTAL", writer="w", time=1.0, combined=(both,)
    )
    frag = plan.manifest.change.add[0]
    assert (frag.id, frag.increment, frag.last_increment, frag.rows) == ("1.0", 1, 3, 6)
    assert [i.rows for i in plan.manifest.increments or ()] == [2, 0, 4]
    after = _apply(state, plan)
    assert (after.rows, after.increment_count) == (8, 4)
    # Planned for another parent (the numbers moved), or rows that do not add up.
    for bad in (
        NewFragment(rows=6, groups=(GROUP,), increment=0, last_increment=2),
        NewFragment(rows=5, groups=(GROUP,), increment=1, last_increment=3),
    ):
        with pytest.raises(InvalidArgumentError, match="combined"):
            next_group_manifest(
                state, logs, key="k", mode="INCREMENTAL", writer="w", time=1.0, combined=(bad,)
            )


def test_format_2_commits_that_are_not_appends() -> None:
    """IMMUTABLE re-logs, MUTABLE logs and compactions on a format-2 table: one
    increment for a log (its id moved from ``extra`` into it), none for a compaction."""
    imm = Intent1(
        mode="IMMUTABLE", writer="w", step=4, schema=A, replace=True,
        add=(NewFragment(rows=3, groups=(GROUP,)),), extra=(("log", "c" * 32),),
        format_version=2, log_time=7.0,
    )  # fmt: skip
    s0 = _apply(TableState(), next_manifest(TableState(), imm, key="k", time=9.0))
    plan = next_manifest(s0, imm, key="k", time=9.0)
    m = plan.manifest
    assert m.format_version == 2 and "log" not in m.extra
    assert m.increments is not None and [(i.number, i.rows, i.time) for i in m.increments] == [
        (1, 3, 7.0)
    ]
    s1 = _apply(s0, plan)
    assert (s1.increment_count, s1.fragments[0].increment, s1.fragments[0].last_increment) == (
        2, 1, 1,
    )  # fmt: skip
    compaction = Intent1(
        mode="IMMUTABLE", writer="w", step=4, schema=A, replace=True,
        add=(NewFragment(rows=3, groups=(GROUP,), increment=1),),
        extra=(("operation", "compact"),),
    )  # fmt: skip
    s2 = _apply(s1, next_manifest(s1, compaction, key="k", time=9.0))
    assert s2.increment_count == 2 and s2.fragments[0].last_increment == 1
    # Rows that belong to no log cannot be recorded in format 2.
    no_log = Intent1(mode="IMMUTABLE", writer="w", step=5, schema=A, replace=True,
                     add=(NewFragment(rows=1, groups=(GROUP,)),))  # fmt: skip
    with pytest.raises(InvalidArgumentError, match="names none"):
        next_manifest(s2, no_log, key="k", time=9.0)
    # A format-1 table stays format 1, whatever the intent asks for a new table.
    first = Intent1(mode="IMMUTABLE", writer="w", step=0, schema=A, extra=(("log", "d" * 32),))
    f1 = next_manifest(TableState(), first, key="k", time=1.0).manifest
    s = apply_manifest(TableState(), f1, digest_of(encode_manifest(f1)), where="u")
    again = next_manifest(s, imm, key="k", time=1.0).manifest
    assert again.format_version == 1 and again.extra["log"] == "c" * 32
