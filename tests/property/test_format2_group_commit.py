"""Group commit (docs/format.md, "Format 2"): however a sequence of INCREMENTAL logs is
grouped into commits, planning, encoding, parsing as format 2 and applying the chain
gives the table that one log per commit gives (in format 2, and in format 1 as today's
writer plans it), across checkpoints, and every log is still there as an increment."""

from __future__ import annotations

import hashlib
from itertools import accumulate, cycle

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tablelog.format.manifest import (
    MAX_COMMIT_INCREMENTS,
    Column,
    ColumnGroup,
    Manifest,
    encode_manifest,
    parse_manifest,
    parse_segment,
)
from tablelog.format.plan import Intent, LogIntent, NewFragment, Plan, next_group_manifest
from tablelog.format.plan import next_manifest as next_format1_manifest
from tablelog.format.state import (
    CHECKPOINT_EVERY,
    TableState,
    apply_manifest,
    state_from_checkpoint,
)
from tablelog.objects.cas import digest_of

KEY = "eval"
COLUMNS = {
    "a": st.just("int64"),
    "b": st.just("large_string"),
    "c": st.sampled_from(["null", "int64", "double"]),  # merged as the table goes
}

#: One log: its step, time, columns (name → Arrow type) and the rows of its fragments.
LogSpec = tuple[int | None, float, tuple[tuple[str, str], ...], tuple[int, ...]]

log_specs = st.tuples(
    st.none() | st.integers(0, 40),  # steps go back too (extra.max_step)
    st.floats(0, 4e9, allow_nan=False),
    st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=3, unique=True).flatmap(
        lambda names: st.tuples(*(st.tuples(st.just(n), COLUMNS[n]) for n in names))
    ),
    st.lists(st.integers(0, 5), max_size=2).map(tuple),  # no fragment: an empty log
)
#: Commit sizes, used in turn; mostly small so that chains cross checkpoints.
group_sizes = st.lists(
    st.integers(1, 4) | st.integers(1, MAX_COMMIT_INCREMENTS), min_size=1, max_size=8
)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _log(i: int, spec: LogSpec) -> LogIntent:
    step, time, columns, rows = spec
    names = tuple(n for n, _ in columns)
    return LogIntent(
        log_id=_digest(f"log {i}")[:32],
        step=step,
        time=time,
        schema=tuple(Column(name=n, kind="number", arrow=a) for n, a in columns),
        add=tuple(
            NewFragment(
                rows=r, groups=(ColumnGroup(object=_digest(f"{i}.{j}"), columns=names, size=r),)
            )
            for j, r in enumerate(rows)
        ),
    )


class Chain:
    """A table's chain in memory: each plan is encoded, parsed back with ``max_format=2``
    and applied; at each checkpoint the state its segments list is rebuilt and compared."""

    def __init__(self) -> None:
        self.state = TableState()
        self.manifests: list[Manifest] = []
        self.segments: dict[str, bytes] = {}
        self.checkpoints = 0

    def commit(self, plan: Plan) -> None:
        data = encode_manifest(plan.manifest)
        m = parse_manifest(data, where=f"v{plan.manifest.version}", max_format=2)
        assert m == plan.manifest
        self.segments.update(plan.segments)
        self.state = apply_manifest(self.state, m, digest_of(data), where="u")
        self.manifests.append(m)
        if m.checkpoint is not None:
            self.checkpoints += 1
            listed = tuple(
                f
                for ref in m.checkpoint
                for f in parse_segment(
                    self.segments[ref.object],
                    where=ref.object,
                    max_format=2,
                    format_version=m.format_version,
                )
            )
            assert state_from_checkpoint(m, digest_of(data), listed, where="u") == self.state


def _group(chain: Chain, logs: list[LogIntent], time: float) -> None:
    plan = next_group_manifest(
        chain.state, tuple(logs), key=KEY, mode="INCREMENTAL", writer="w", time=time
    )
    chain.commit(plan)


def _format1(chain: Chain, log: LogIntent) -> None:
    intent = Intent(
        mode="INCREMENTAL",
        writer="w",
        step=log.step,
        schema=log.schema,
        add=log.add,
        extra=(("log", log.log_id),),
    )
    chain.commit(next_format1_manifest(chain.state, intent, key=KEY, time=log.time))


def _cut(n: int, sizes: list[int]) -> list[int]:
    """Where commits of ``sizes`` (in turn) end on ``n`` logs."""
    ends = accumulate(s for s, _ in zip(cycle(sizes), range(n), strict=False))
    return [*(e for e in ends if e < n), n]


def _content(state: TableState) -> list[tuple[object, ...]]:
    """Fragments without their ids (``<version>.<i>``: they name the commit)."""
    return [(f.rows, f.increment, f.last_increment, f.groups) for f in state.fragments]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # the length drawn first, so that long chains (past checkpoints) are common
    specs=st.integers(1, 120).flatmap(lambda n: st.lists(log_specs, min_size=n, max_size=n)),
    sizes=group_sizes,
)
@example(  # 100 logs in commits of 1 and 2: 67 commits, checkpoints at versions 0, 32, 64
    specs=[(i, float(i), (("a", "int64"),), (1,)) for i in range(100)], sizes=[1, 2]
)
@example(specs=[(7, 1.0, (("a", "int64"),), (1,))] * 300, sizes=[MAX_COMMIT_INCREMENTS])
def test_any_grouping_gives_the_table_of_one_log_per_commit(
    specs: list[LogSpec], sizes: list[int]
) -> None:
    logs = [_log(i, spec) for i, spec in enumerate(specs)]
    grouped, single, format1 = Chain(), Chain(), Chain()
    start = 0
    for end in _cut(len(logs), sizes):
        _group(grouped, logs[start:end], time=float(end))
        start = end
    for log in logs:
        _group(single, [log], time=log.time)
        _format1(format1, log)
    g, s, f1 = grouped.state, single.state, format1.state
    n = len(logs)
    assert (g.format_version, s.format_version, f1.format_version) == (2, 2, 1)
    assert g.version == len(_cut(n, sizes)) - 1 and s.version == f1.version == n - 1
    assert single.checkpoints == f1.version // CHECKPOINT_EVERY + 1
    assert grouped.checkpoints == g.version // CHECKPOINT_EVERY + 1
    event(f"checkpoints of the grouped chain: {grouped.checkpoints}")
    # the same table as one log per commit, in format 2 ...
    assert _content(g) == _content(s)
    assert (g.rows, g.increment_count, g.schema, g.step, g.max_step) == (
        s.rows,
        s.increment_count,
        s.schema,
        s.step,
        s.max_step,
    )
    assert g.increment_count == n
    # ... and as today's format-1 writer gives it (there a version is an increment)
    assert [(r, i, groups) for r, i, _, groups in _content(g)] == [
        (f.rows, f.increment, f.groups) for f in f1.fragments
    ]
    assert all(f.last_increment == f.increment for f in g.fragments)
    assert (g.rows, g.schema, g.step, g.max_step) == (f1.rows, f1.schema, f1.step, f1.max_step)
    assert g.rows == sum(f.rows for log in logs for f in log.add)
    # every log is recoverable from the chain as its increment: number, step, rows, id,
    # time, and the commit that holds it (the one it was grouped into)
    listed = [(i, m.version) for m in grouped.manifests for i in m.increments or ()]
    holder = []
    start = 0
    for v, end in enumerate(_cut(n, sizes)):
        holder.extend([v] * (end - start))
        start = end
    assert [(i.number, i.step, i.rows, i.log_id, i.time, v) for i, v in listed] == [
        (k, log.step, log.rows, log.log_id, log.time, holder[k]) for k, log in enumerate(logs)
    ]
    rows_of = dict.fromkeys(range(n), 0)
    for f in g.fragments:
        rows_of[f.increment] += f.rows
    assert [rows_of[k] for k in range(n)] == [log.rows for log in logs]
    # format 1 kept the log id in extra.log, one per version
    assert [m.extra["log"] for m in format1.manifests] == [log.log_id for log in logs]


def test_a_grouped_chain_is_shorter_and_checkpoints_at_the_same_versions() -> None:
    """Version numbers, not log numbers, pick checkpoints: 64 logs in commits of 2 reach
    version 31, no second checkpoint; 66 reach version 32, one."""
    for n, checkpoints in [(64, 1), (66, 2)]:
        chain = Chain()
        logs = [_log(i, (i, 0.0, (("a", "int64"),), (1,))) for i in range(n)]
        for k in range(0, n, 2):
            _group(chain, logs[k : k + 2], time=0.0)
        assert (chain.state.version, chain.checkpoints) == (n // 2 - 1, checkpoints)
        assert chain.state.increment_count == n
