"""Damaged or hostile metadata (issue 22, cases 18 and 19): one stray key or one bad
object never hides the rest of the root, never costs time in proportion to a number
found in a name, and every store reads it the same way."""

from __future__ import annotations

from typing import Any

import tablelog
from tablelog.format import paths
from tablelog.objects.open import open_store


def _store(where: Any) -> Any:
    return open_store(where.root, storage_options=where.storage_options)


def _log_three(where: Any, run_id: str) -> None:
    with where.init(id=run_id) as run:
        t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        for i in range(3):
            t.add_data(i)
            run.log({"t": t}, step=i)


def test_a_stray_far_version_is_ignored_by_readers_and_reported_once(where: Any) -> None:
    _log_three(where, "far")
    store = _store(where)
    v2 = store.get(paths.version_key("p", "far", "t", 2))
    for far in (10**6, 10**20 - 1):  # a hand-copied manifest; the largest 20-digit name
        store.put(paths.version_key("p", "far", "t", far), v2)
    # Every store reads versions 0..2, and a writer appends version 3.
    assert where.scan("p/far/t").collect()["i"].to_list() == [0, 1, 2]
    with where.init(id="far", resume="must") as run:
        t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        t.add_data(3)
        run.log({"t": t})
    assert where.scan("p/far/t").collect()["i"].to_list() == [0, 1, 2, 3]
    assert where.history("p/far/t")["version"].to_list() == [0, 1, 2, 3]
    report = tablelog.verify(**where.kw())
    gaps = [p for p in report.problems if "missing before this one" in p.message]
    assert [p.location for p in gaps] == [
        store.full_url(paths.version_key("p", "far", "t", v)) for v in (10**6, 10**20 - 1)
    ]
    assert "versions 4..999999 missing" in gaps[0].message
    assert len(report.problems) < 10  # one per gap, plus what each stray's contents say
