"""Distributed readers of one sharded table, each checked equal to ``tablelog.scan``:

* Dask's distributed scheduler (a ``LocalCluster`` of 2 workers; ``processes=False``,
  so the workers are threads of this process: 2 worker processes cost seconds of start
  up on a 2-core machine) reading the objects ``tablelog.files()`` lists, one task per
  object;
* DuckDB reading the same list in one query (local paths directly; S3 through the
  same fsspec filesystem tablelog uses, registered with DuckDB: no httpfs download);
* pyiceberg reading the Iceberg export of all shards.

``files()`` hands out objects, not the columns tablelog adds on read (``_shard``, and
in format 1 ``_increment`` of uncompacted fragments), so the first two compare the logged
columns; in format 2 every object stores ``_increment``, which DuckDB then reads too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tablelog
from tablelog.format.chain import write_format
from tablelog.interop.iceberg import iceberg_io_properties
from tablelog.objects import open_store

dd = pytest.importorskip("dask.distributed", reason="pip install 'tablelog[dask]'")
duckdb = pytest.importorskip("duckdb", reason="pip install 'tablelog[duckdb]'")

KINDS = ["local", pytest.param("seaweedfs", marks=pytest.mark.s3)]
COLUMNS = ["rank", "i", "step", "loss"]


@pytest.fixture(autouse=True)
def _pyiceberg_planner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")


def _log(where: Any) -> None:
    """Three shards (ranks), four steps, two rows per log; one rank logs a column more.
    sync=True: one version, so one object, per log (no group commit in format 2)."""
    for rank in range(3):
        with where.init(id="job", shard=f"rank-{rank}", sync=True) as run:
            columns = ["rank", "i", "step", *(["loss"] if rank == 1 else [])]
            t = tablelog.Table(columns=columns, log_mode="INCREMENTAL")
            for step in range(4):
                for j in range(2):
                    t.add_data(rank, 2 * step + j, step, *([0.5 * step] if rank == 1 else []))
                run.log({"eval": t}, step=step)


def _rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The logged columns in one order and type, sorted (distributed reads have no order)."""
    for c in COLUMNS:
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias(c))
    out = frame.select(pl.col("rank", "i", "step").cast(pl.Int64), pl.col("loss").cast(pl.Float64))
    return out.sort(COLUMNS, nulls_last=True)


def _read_one(url: str, options: dict[str, str] | None) -> pl.DataFrame:
    return pl.read_parquet(url, storage_options=options)


@pytest.mark.parametrize("kind", KINDS)
def test_dask_duckdb_and_pyiceberg_read_what_scan_reads(
    kind: str, make_root: Any, tmp_path: Path
) -> None:
    where = make_root(kind)
    _log(where)
    expected = where.scan("p/job/eval").collect()
    assert expected.height == 3 * 4 * 2
    urls, schema = tablelog.files("p/job/eval", **where.kw())
    assert set(schema.names()) == set(COLUMNS) and len(urls) == 3 * 4
    store = open_store(**where.kw())
    options = store.reader_options()
    polars_options = dict(options) if options else None

    # Dask: one task per object on 2 workers, gathered and concatenated
    with (
        dd.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        dd.Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        parts = client.gather(client.map(_read_one, urls, options=polars_options))
        workers = {w for ws in client.who_has().values() for w in ws}
    via_dask = pl.concat(parts, how="diagonal_relaxed")
    assert _rows(via_dask).equals(_rows(expected))
    assert len(workers) == 2  # the tasks ran on both workers

    # DuckDB: the whole list in one query
    con = duckdb.connect()
    if kind != "local":
        import s3fs

        so = where.storage_options
        con.register_filesystem(
            s3fs.S3FileSystem(key=so["key"], secret=so["secret"], client_kwargs=so["client_kwargs"])
        )
    query = "SELECT * FROM read_parquet(?, union_by_name = true)"
    via_duckdb = pl.from_arrow(con.sql(query, params=[urls]).to_arrow_table())
    assert isinstance(via_duckdb, pl.DataFrame)
    assert _rows(via_duckdb).equals(_rows(expected))
    if write_format() == 2:  # the objects store each row's increment
        tagged = ["rank", "i", "_increment"]
        assert via_duckdb.select(tagged).sort(tagged).equals(expected.select(tagged).sort(tagged))

    # pyiceberg: the Iceberg export of every shard, with _shard and _increment
    from pyiceberg.catalog.sql import SqlCatalog

    uri = f"sqlite:///{tmp_path / 'catalog.db'}"
    tablelog.to_iceberg("p/job/eval", **where.kw(), catalog=uri, identifier="ml.eval")
    catalog = SqlCatalog("tablelog", uri=uri, **iceberg_io_properties(store))
    got = pl.from_arrow(catalog.load_table("ml.eval").scan().to_arrow())
    assert isinstance(got, pl.DataFrame)
    full = expected.columns
    assert got.select(full).sort(full, nulls_last=True).equals(expected.sort(full, nulls_last=True))
