"""INCREMENTAL logs with identical rows (a resumed run repeating its loop) read in one
scan, each row tagged with its own increment.

In format 1 such logs are byte-identical objects and ``_increment`` is the number of the
version that appended the row; in format 2 every object stores its rows' ``_increment``,
the increment (log) number, which a compaction (a version that is no log) does not move
on (docs/format.md, "Format 2"). Both formats are written here, whatever the suite's
``$TABLELOG_WRITE_FORMAT``."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

import tablelog
from tablelog.format.chain import WRITE_FORMAT_VARIABLE
from tablelog.maintenance.compact import compact
from tablelog.objects import open_store


@pytest.fixture(params=[1, 2], ids=["format1", "format2"])
def write_format(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    if request.param == 1:
        request.getfixturevalue("write_format_1")
    else:
        monkeypatch.delenv(WRITE_FORMAT_VARIABLE, raising=False)
    return int(request.param)


def test_identical_increments_keep_their_own_increment(where: Any, write_format: int) -> None:
    for _ in range(3):  # three handles, each logging the same two increments
        # (sync: a version per log, which `version=2` below counts on)
        with where.init(id="rep", resume="allow", sync=True) as run:
            t = tablelog.Table(columns=["x"], log_mode="INCREMENTAL")
            for value in ("a", "b"):
                t.add_data(value)
                t.add_data(value + "!")
                run.log({"t": t})
    store = open_store(where.root, storage_options=where.storage_options)
    objects = [key for key in store.list("objects/") if key.endswith(".parquet")]
    assert len(objects) == (2 if write_format == 1 else 6)  # format 1 stores "a", "b" once
    df = where.scan("p/rep/t").collect()
    assert df.rows() == [(x, inc) for inc, v in enumerate("ababab") for x in (v, v + "!")]
    assert where.scan("p/rep/t", increment=4).collect()["x"].to_list() == ["a", "a!"]
    lf = where.scan("p/rep/t").filter(pl.col("_increment") >= 3)
    assert lf.collect()["x"].to_list() == ["b", "b!", "a", "a!", "b", "b!"]
    assert where.scan("p/rep/t", version=2).collect()["_increment"].to_list() == [0, 0, 1, 1, 2, 2]
    # A compacted prefix (version 6, no log) followed by repeated plain increments.
    compact("p/rep/t", **where.kw())
    with where.init(id="rep", resume="allow") as run:
        for _ in range(2):
            t = tablelog.Table(columns=["x"], log_mode="INCREMENTAL")
            t.add_data("a")
            t.add_data("a!")
            run.log({"t": t})
    # Format 1 numbers the last two logs as the versions 7 and 8 that appended them;
    # format 2 as the logs 6 and 7 they are.
    last = [7, 8] if write_format == 1 else [6, 7]
    incs = tablelog.history("p/rep/t", per="increment", **where.kw())
    assert incs["increment"].to_list() == [0, 1, 2, 3, 4, 5, *last]
    df = where.scan("p/rep/t").collect()
    assert df["_increment"].to_list() == [n for n in incs["increment"] for _ in range(2)]
    assert df["_increment"].to_list()[-4:] == [last[0], last[0], last[1], last[1]]
    assert df["x"].to_list() == [x for v in "abababaa" for x in (v, v + "!")]
    for n in last:
        assert where.scan("p/rep/t", increment=n).collect()["x"].to_list() == ["a", "a!"]
