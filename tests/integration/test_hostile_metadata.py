"""Damaged or hostile metadata (issue 22, cases 18 and 19): one stray key or one bad
object never hides the rest of the root, never costs time in proportion to a number
found in a name, and every store reads it the same way."""

from __future__ import annotations

from typing import Any

import tablelog
from tablelog.format import paths
from tablelog.objects.open import open_store
from tablelog.read.tables import run_tables


def _store(where: Any) -> Any:
    return open_store(where.root, storage_options=where.storage_options)


def _log_three(where: Any, run_id: str) -> None:
    """Three versions of ``t``: sync=True makes each log one version (no group commit)."""
    with where.init(id=run_id, sync=True) as run:
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
    # The run's table list (`tablelog ls p/far`, the viewer's run page) sees 4 versions.
    [info] = [t for t in run_tables(store, "p", "far") if t.key == "t"]
    assert (info.key, info.versions, info.rows, info.step) == ("t", 4, 4, 3)


def _put_json(store: Any, key: str, text: str) -> None:
    store.put(key, text.encode())


def test_deep_json_and_huge_types_are_format_errors_and_verify_goes_on(where: Any) -> None:
    _log_three(where, "ok")
    _log_three(where, "bad")
    store = _store(where)
    # run.json nested deep within its size limit.
    depth = 100_000
    nested = "[" * depth + "]" * depth
    run_json = (
        '{"config":{"x":' + nested + '},"created":1,"format_version":1,"last_step":2,'
        '"name":null,"project":"p","run_id":"bad","status":"finished","updated":1}'
    )
    _put_json(store, paths.run_json_key("p", "bad"), run_json)
    # A manifest (a new chain, version 0) whose column type Arrow cannot build.
    m0 = store.get(paths.version_key("p", "ok", "t", 0)).decode()
    good = '"arrow":"int64"'
    assert good in m0
    for key, arrow in (("huge", '{"fixed_list":"int64","size":100000000000000000000}'),
                       ("deep", '{"list":' * 70 + '"int64"' + "}" * 70),
                       ("wide", '{"fixed_binary":-1}')):  # fmt: skip
        hostile = m0.replace(good, '"arrow":' + arrow).replace('"key":"t"', f'"key":"{key}"')
        _put_json(store, paths.version_key("p", "ok", key, 0), hostile)
        try:
            where.scan(f"p/ok/{key}").collect()
        except tablelog.FormatError as e:
            assert "column 'i'" in str(e)
        else:
            raise AssertionError(f"{key}: read a column of an impossible type")
    try:
        where.init(id="bad", resume="must")
    except tablelog.FormatError as e:
        assert "run.json" in str(e)
    else:
        raise AssertionError("resumed a run whose run.json cannot be parsed")
    # A type Arrow can build, but not the objects' (accepted, then unreadable): only
    # reading the objects tells, which verify --deep does.
    mismatch = m0.replace(good, '"arrow":{"list":"int64"}').replace('"key":"t"', '"key":"mis"')
    _put_json(store, paths.version_key("p", "ok", "mis", 0), mismatch)
    assert not any("mis" in p.location for p in tablelog.verify(**where.kw()).problems)
    report = tablelog.verify(**where.kw(), deep=True)
    located = {p.location for p in report.problems}
    assert store.full_url(paths.run_json_key("p", "bad")) in located
    for key in ("huge", "deep", "wide", "mis"):
        assert store.full_url(paths.version_key("p", "ok", key, 0)) in located, key
    # The rest of the root was verified all the same, and reads.
    assert report.tables == 6 and report.versions == 3 + 3 + 4
    assert where.scan("p/bad/t").collect()["i"].to_list() == [0, 1, 2]
