"""A sharded table is one table everywhere: compact, export, diff and the Iceberg export
work on the union of its shards (``p/job/eval``), and each agrees with ``scan``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pyiceberg.catalog.sql import SqlCatalog

import tablelog
from tablelog.cli.main import main as cli
from tablelog.format.chain import WRITE_FORMAT_VARIABLE
from tablelog.interop.iceberg import iceberg_io_properties
from tablelog.objects import open_store
from tablelog.read.diff import diff
from tablelog.read.export import export

KINDS = ["local", pytest.param("seaweedfs", marks=pytest.mark.s3)]
SHARDS = ("s0", "s1", "s2")


@pytest.fixture(autouse=True)
def _pyiceberg_planner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")


def _log(where: Any, steps: range, shards: tuple[str, ...] = SHARDS) -> None:
    """Each shard logs two rows per step to the INCREMENTAL table p/job/eval, one version
    per log (sync=True: no group commit in format 2)."""
    for n, shard in enumerate(shards):
        with where.init(id="job", shard=shard, sync=True) as run:
            t = tablelog.Table(columns=["rank", "i", "step"], log_mode="INCREMENTAL")
            for step in steps:
                t.add_data(n, 2 * step, step)
                t.add_data(n, 2 * step + 1, step)
                run.log({"eval": t}, step=step)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns)


def _catalog(where: Any, tmp_path: Path) -> tuple[str, SqlCatalog]:
    uri = f"sqlite:///{tmp_path / 'catalog.db'}"
    return uri, SqlCatalog("tablelog", uri=uri, **iceberg_io_properties(open_store(**where.kw())))


def _iceberg_rows(catalog: SqlCatalog, ident: str) -> pl.DataFrame:
    got = pl.from_arrow(catalog.load_table(ident).scan().to_arrow())
    assert isinstance(got, pl.DataFrame)
    return got


def test_compact_export_and_diff_of_the_union(local: Any, tmp_path: Path) -> None:
    _log(local, range(4))
    whole = local.scan("p/job/eval").collect()
    assert whole.height == 3 * 4 * 2 and set(whole["_shard"]) == set(SHARDS)

    # export: the union, as scan reads it (the _shard column included)
    for suffix in ("parquet", "csv", "ndjson"):
        out = tmp_path / f"eval.{suffix}"
        done = export("p/job/eval", out, **local.kw())
        assert (done.version, done.rows) == (-1, whole.height)
        assert done.shards == tuple((s, 3) for s in SHARDS)
        back = getattr(pl, f"read_{suffix}")(out)
        assert back.select(whole.columns).equals(whole.cast(back.select(whole.columns).schema))
    at = export("p/job/eval", tmp_path / "at1.parquet", step=1, **local.kw())
    assert pl.read_parquet(tmp_path / "at1.parquet").equals(
        local.scan("p/job/eval", step=1).collect()
    )
    assert at.shards == tuple((s, 1) for s in SHARDS)
    with pytest.raises(ValueError, match=r"sharded \(3 shards\).*export one shard's path"):
        export("p/job/eval", tmp_path / "eval.html", **local.kw())
    with pytest.raises(ValueError, match=r"shard=\.\.\. with version="):
        export("p/job/eval", tmp_path / "v.parquet", version=0, **local.kw())

    # diff: every shard from step 1 to its latest (steps 2 and 3: 2 rows each)
    d = diff("p/job/eval", step_a=1, **local.kw())
    assert (d.version_a, d.version_b, d.rows_a, d.rows_b) == (-1, -1, 12, 24)
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (12, 0, 0)
    assert [s for s, _ in d.shards] == list(SHARDS)
    assert all(sd.increments_added == ((2, 2), (3, 2)) for _, sd in d.shards)
    back = diff("p/job/eval", step_a=3, step_b=0, **local.kw())
    assert (back.rows_added, back.rows_removed) == (0, 18)
    assert diff("p/job/eval", step_a=3, **local.kw()).same
    with pytest.raises(ValueError, match=r"shard=\.\.\. with version="):
        diff("p/job/eval", 0, **local.kw())
    with pytest.raises(ValueError, match="step_a"):
        diff("p/job/eval", **local.kw())
    # a shard that has no version at step_a compares with an empty table
    _log(local, range(2, 3), shards=("s3",))
    late = diff("p/job/eval", step_a=1, **local.kw())
    assert dict(late.shards)["s3"].rows_added == 2 and late.rows_added == 14

    # compact: every shard, each on its own chain; the union reads the same rows
    before = local.scan("p/job/eval").collect()
    done_c = tablelog.compact("p/job/eval", **local.kw())
    assert done_c.compacted and done_c.version is None
    assert [s for s, _ in done_c.shards] == [*SHARDS, "s3"]
    assert all(r.compacted and r.fragments_after == 1 for _, r in done_c.shards[:3])
    assert (done_c.fragments_before, done_c.rows) == (3 * 4 + 1, before.height)
    assert local.scan("p/job/eval").collect().equals(before)
    root = ["--root", local.root]
    assert cli(["compact", "p/job/eval", "--json", *root]) == 0
    assert cli(["diff", "p/job/eval", "--step-a", "1", "--json", *root]) == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("write_format_1")
def test_iceberg_export_of_every_shard_as_one_table(
    kind: str, make_root: Any, tmp_path: Path
) -> None:
    """Format 1: uncompacted objects do not store _increment, so the export is partitioned
    by _increment and _shard until every shard is compacted."""
    _export_every_shard(make_root(kind), tmp_path, fmt=1)


@pytest.mark.parametrize("kind", KINDS)
def test_format_2_iceberg_export_of_every_shard_as_one_table(
    kind: str, make_root: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Format 2: every object stores _increment, so the export is partitioned by _shard
    alone, before and after a compaction, which then is an overwrite."""
    monkeypatch.delenv(WRITE_FORMAT_VARIABLE, raising=False)  # even in a format-1 suite run
    _export_every_shard(make_root(kind), tmp_path, fmt=2)


def _export_every_shard(where: Any, tmp_path: Path, *, fmt: int) -> None:
    _log(where, range(3))
    uri, catalog = _catalog(where, tmp_path)
    first = tablelog.to_iceberg("p/job/eval", **where.kw(), catalog=uri, identifier="ml.eval")
    assert (first.operation, first.version, first.rows) == ("create", -1, 18)
    assert first.data_files == 3 * 3  # zero-copy: one data file per fragment of each shard
    table = catalog.load_table("ml.eval")
    spec = ["_increment", "_shard"] if fmt == 1 else ["_shard"]
    assert [f.name for f in table.spec().fields] == spec
    expected = _sorted(where.scan("p/job/eval").collect())
    got = _iceberg_rows(catalog, "ml.eval")
    assert _sorted(got.select(expected.columns)).equals(expected)
    # the data files are the shards' own objects, nothing copied
    objects = {t.file.file_path.rsplit("/", 1)[1] for t in table.scan().plan_files()}
    urls = tablelog.files("p/job/eval", **where.kw())[0]
    assert objects == {u.rsplit("/", 1)[1] for u in urls} and len(urls) == 9

    # more logs (one shard), re-export: an append of that shard's new objects
    _log(where, range(3, 5), shards=("s1",))
    again = tablelog.to_iceberg("p/job/eval", **where.kw(), catalog=uri, identifier="ml.eval")
    assert (again.operation, again.added_files, again.rows) == ("append", 2, 22)
    expected = _sorted(where.scan("p/job/eval").collect())
    assert _sorted(_iceberg_rows(catalog, "ml.eval").select(expected.columns)).equals(expected)
    none = tablelog.to_iceberg("p/job/eval", **where.kw(), catalog=uri, identifier="ml.eval")
    assert none.operation == "none"

    # every shard compacted: _increment is stored, so partitioned by _shard alone
    tablelog.compact("p/job/eval", **where.kw())
    if fmt == 1:
        with pytest.raises(tablelog.TablelogError, match="new identifier"):
            tablelog.to_iceberg("p/job/eval", **where.kw(), catalog=uri, identifier="ml.eval")
    else:  # the same partitioning: the compacted objects replace the 11 logged ones
        moved = tablelog.to_iceberg("p/job/eval", **where.kw(), catalog=uri, identifier="ml.eval")
        assert (moved.operation, moved.added_files, moved.removed_files) == ("overwrite", 3, 11)
        got = _iceberg_rows(catalog, "ml.eval").select(expected.columns)
        assert _sorted(got).equals(expected)
    packed = tablelog.to_iceberg("p/job/eval", **where.kw(), catalog=uri, identifier="ml.packed")
    assert packed.data_files == 3
    assert [f.name for f in catalog.load_table("ml.packed").spec().fields] == ["_shard"]
    assert _sorted(_iceberg_rows(catalog, "ml.packed").select(expected.columns)).equals(expected)
