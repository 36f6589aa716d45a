"""INCREMENTAL versions whose increments are byte-identical objects (a resumed run
repeating its loop) read in one scan, each row tagged with its own increment."""

from __future__ import annotations

from typing import Any

import polars as pl

import tablelog
from tablelog.maintenance.compact import compact


def test_identical_increments_keep_their_own_increment(where: Any) -> None:
    for _ in range(3):  # three handles, each logging the same two increments
        with where.init(id="rep", resume="allow") as run:
            t = tablelog.Table(columns=["x"], log_mode="INCREMENTAL")
            for value in ("a", "b"):
                t.add_data(value)
                t.add_data(value + "!")
                run.log({"t": t})
    df = where.scan("p/rep/t").collect()
    assert df.rows() == [(x, inc) for inc, v in enumerate("ababab") for x in (v, v + "!")]
    assert where.scan("p/rep/t", increment=4).collect()["x"].to_list() == ["a", "a!"]
    lf = where.scan("p/rep/t").filter(pl.col("_increment") >= 3)
    assert lf.collect()["x"].to_list() == ["b", "b!", "a", "a!", "b", "b!"]
    assert where.scan("p/rep/t", version=2).collect()["_increment"].to_list() == [0, 0, 1, 1, 2, 2]
    # A compacted prefix followed by repeated plain increments.
    compact("p/rep/t", **where.kw())
    with where.init(id="rep", resume="allow") as run:
        for _ in range(2):
            t = tablelog.Table(columns=["x"], log_mode="INCREMENTAL")
            t.add_data("a")
            t.add_data("a!")
            run.log({"t": t})
    df = where.scan("p/rep/t").collect()
    assert df["_increment"].to_list()[-4:] == [7, 7, 8, 8]
    assert df["x"].to_list() == [x for v in "abababaa" for x in (v, v + "!")]
