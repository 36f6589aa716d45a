"""Readers on format-2 tables (docs/format.md, "Reading format 2"), for the cases the
property test (tests/property/test_format2_reads.py) does not draw: cold reads across
checkpoints and replacing versions (the chain's shortcuts carry ``increment_count``),
IMMUTABLE and MUTABLE logs, ``_history`` in combined objects, shards cut at a step, and
a reader that does not read format 2 refusing it. ``history(per="increment")`` on a
format-1 run written by today's writer, too."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from format2_writes import Log, commit_group, commit_log, compact

import tablelog
from tablelog.errors import InvalidArgumentError
from tablelog.format import paths
from tablelog.format.handle import TableHandle
from tablelog.format.state import TableState
from tablelog.objects.open import open_store
from tablelog.objects.store import Store
from tablelog.read.diff import diff

PATH = "p/r/eval"


def _ids(n0: int, n: int) -> pa.Table:
    return pa.table({"i": pa.array(range(n0, n0 + n), pa.int64())})


def _handle(root: Path, key: str = "eval") -> TableHandle:
    return TableHandle(open_store(str(root)), "p", "r", key)


def _scan_ids(root: Path, path: str = PATH, **kw: object) -> list[int]:
    return tablelog.scan(path, root=str(root), **kw).collect()["i"].to_list()  # type: ignore[arg-type]


def test_cold_reads_across_checkpoints_and_a_compaction(tmp_path: Path) -> None:
    ref = _handle(tmp_path)
    state, n = TableState(), 0
    expected: dict[int, list[int]] = {}
    for v in range(40):  # checkpoints at 0 and 32; three logs in one object each
        batch = [Log(v * 3 + k, _ids(n + 2 * k, 2)) for k in range(3)]
        state = commit_group(ref, state, batch, combine=v % 2 == 0)
        n += 6
        expected[v] = list(range(n))
    rows = tablelog.scan(PATH, root=str(tmp_path)).collect().to_arrow()
    state = compact(ref, state, rows)  # version 40 replaces every fragment
    expected[40] = list(range(n))
    for v in (41, 42):
        state = commit_group(ref, state, [Log(200 + v, _ids(n, 1)), Log(300 + v, _ids(n + 1, 1))],
                             combine=True)  # fmt: skip
        n += 2
        expected[v] = list(range(n))
    assert state.increment_count == 124
    for v, ids in expected.items():
        tablelog.clear_caches()  # a cold read: 40 starts from its own manifest, 41 and
        assert _scan_ids(tmp_path, version=v) == ids  # 42 skip checkpoint 32's segments
    tablelog.clear_caches()
    assert _scan_ids(tmp_path, increment=122) == [n - 2]
    assert _scan_ids(tmp_path, increment=5) == [10, 11]  # in the compacted object
    # Inside version 42: its first log (step 242) is under the high step 341, its second
    # (342) is not.
    assert _scan_ids(tmp_path, step=341) == list(range(n - 1))
    hist = tablelog.history(PATH, root=str(tmp_path), per="increment")
    assert hist.height == 124 and hist["version"].to_list()[-4:] == [41, 41, 42, 42]
    versions = tablelog.history(PATH, root=str(tmp_path))
    assert versions["version"].to_list() == list(range(43))


def test_immutable_and_mutable_logs_are_one_increment_a_version(tmp_path: Path) -> None:
    imm = _handle(tmp_path, "imm")
    s = commit_log(imm, TableState(), "IMMUTABLE", _ids(0, 3), step=1, replace=True)
    s = commit_log(imm, s, "IMMUTABLE", _ids(10, 2), step=2, replace=True)
    assert (s.version, s.increment_count) == (1, 2)
    tablelog.clear_caches()  # version 1 read cold starts from its own (replacing) manifest
    assert _scan_ids(tmp_path, "p/r/imm") == [10, 11]
    assert _scan_ids(tmp_path, "p/r/imm", step=1) == [0, 1, 2]
    mut = _handle(tmp_path, "mut")
    s = commit_log(mut, TableState(), "MUTABLE", _ids(0, 2), step=0, replace=True)
    s = commit_log(mut, s, "MUTABLE", _ids(2, 2), step=1, replace=False)
    hist = tablelog.history("p/r/mut", root=str(tmp_path), per="increment")
    assert hist["rows"].to_list() == [2, 2] and hist["version"].to_list() == [0, 1]
    assert _scan_ids(tmp_path, "p/r/mut") == [0, 1, 2, 3]


def test_history_in_combined_objects_reads_by_increment_without_the_column(
    tmp_path: Path,
) -> None:
    ref = _handle(tmp_path, "_history")
    logs = [Log(k, _ids(k * 10, k + 1)) for k in range(4)]
    commit_group(ref, TableState(), logs, combine=True)
    path = "p/r/_history"
    frame = tablelog.scan(path, root=str(tmp_path), increment=2).collect()
    assert frame.columns == ["i"] and frame["i"].to_list() == [20, 21, 22]
    at_step = tablelog.scan(path, root=str(tmp_path), step=1).collect()
    assert at_step.columns == ["i"] and at_step["i"].to_list() == [0, 10, 11]


def test_shards_are_each_cut_at_the_step(tmp_path: Path) -> None:
    store: Store = open_store(str(tmp_path))
    for shard, base in (("a", 0), ("b", 100)):
        ref = TableHandle(store, "p", "r", paths.shard_key(shard, "eval"))
        logs = [Log(step, _ids(base + step, 1)) for step in range(5)]
        commit_group(ref, TableState(), logs, combine=True)
    frame = tablelog.scan(PATH, root=str(tmp_path), step=2).collect()
    assert sorted(frame["i"].to_list()) == [0, 1, 2, 100, 101, 102]


def test_a_reader_of_format_1_refuses_a_format_2_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = _handle(tmp_path)
    commit_group(ref, TableState(), [Log(0, _ids(0, 2))], combine=False)
    from tablelog.format import manifest

    monkeypatch.setattr(manifest, "READ_FORMAT", 1)
    tablelog.clear_caches()
    with pytest.raises(tablelog.FormatError, match="upgrade tablelog"):
        tablelog.scan(PATH, root=str(tmp_path))


@pytest.mark.usefixtures("write_format_1")
def test_history_per_increment_of_a_format_1_run(tmp_path: Path) -> None:
    run = tablelog.init(project="p", id="r", root=str(tmp_path))
    table = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    for step in range(3):
        table.add_data(step)
        table.add_data(step + 10)
        run.log({"eval": table}, step=step * 5)
    run.finish()
    tablelog.compact(PATH, root=str(tmp_path))
    hist = tablelog.history(PATH, root=str(tmp_path), per="increment")
    assert hist["increment"].to_list() == [0, 1, 2]  # the compaction is no log
    assert hist["step"].to_list() == [0, 5, 10]
    assert hist["rows"].to_list() == [2, 2, 2]
    assert hist["version"].to_list() == [0, 1, 2]
    assert hist["log_id"].null_count() == 0
    with pytest.raises(InvalidArgumentError, match="per="):
        tablelog.history(PATH, root=str(tmp_path), per="commit")


def test_diff_counts_increments_inside_coalesced_commits(tmp_path: Path) -> None:
    ref = _handle(tmp_path)
    state = commit_group(ref, TableState(), [Log(s, _ids(s * 10, s + 1)) for s in range(3)],
                         combine=True)  # fmt: skip
    commit_group(ref, state, [Log(s, _ids(s * 10, 1)) for s in range(3, 6)], combine=False)
    d = diff(PATH, step_a=1, step_b=4, root=str(tmp_path))
    assert d.increments_added == ((2, 3), (3, 1), (4, 1))
    assert d.rows_added == 5
    back = diff(PATH, step_a=4, step_b=0, root=str(tmp_path))
    assert back.increments_removed == ((1, 2), (2, 3), (3, 1), (4, 1))
