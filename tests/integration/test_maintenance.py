"""verify (fsck) and gc: counts on a clean root, tampering found at its exact location,
gc deletes exactly the unreferenced objects, never a referenced one."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import time
from typing import Any

import pytest

import tablelog
from tablelog.cli import main
from tablelog.format import paths
from tablelog.format.chain import TableRef
from tablelog.format.handle import list_runs, list_tables
from tablelog.format.manifest import (
    READ_FORMAT,
    encode_manifest,
    manifest_to_json,
    parse_manifest,
)
from tablelog.format.state import CHECKPOINT_EVERY
from tablelog.objects import digest_of, open_store
from tablelog.objects.store import Store

# The package exports the function gc, which hides the module of the same name.
gc_module = importlib.import_module("tablelog.maintenance.garbage")
OLD = time.time() - 3 * 24 * 3600
ZERO = dt.timedelta(0)


def _store(where: Any) -> Store:
    return open_store(where.root, storage_options=where.storage_options)


def _log(where: Any, run_id: str, steps: int, offset: int = 0, scalars: bool = True) -> None:
    """An INCREMENTAL and a MUTABLE table (a column added at step 2), maybe scalars.

    sync=True: each log is its own version (no group commit), so the counts are exact."""
    with where.init(id=run_id, sync=True) as run:
        inc = tablelog.Table(columns=["i", "s"], log_mode="INCREMENTAL")
        mut = tablelog.Table(columns=["i"], log_mode="MUTABLE")
        for s in range(steps):
            inc.add_data(offset + s, f"r{offset}-{s}")
            mut.add_data(*[offset + s] * len(mut.columns))
            if s == 2:
                mut.add_column("late", [offset] * mut.num_rows)
            data: dict[str, Any] = {"inc": inc, "mut": mut}
            if scalars:
                data["loss"] = offset + s / 10
            run.log(data, step=s)


def _objects(store: Store) -> set[str]:
    return set(store.list("objects/"))


def _every_version_reads(where: Any) -> int:
    store = _store(where)
    n = 0
    for run_id in list_runs(store, "p"):
        for key in list_tables(store, "p", run_id):
            path = f"p/{run_id}/{key}"
            for version, rows in where.history(path).select("version", "rows").iter_rows():
                assert where.scan(path, version=version).collect().height == rows
                n += 1
    return n


def test_clean_root_verifies_with_counts(where: Any) -> None:
    steps = CHECKPOINT_EVERY + 2  # two checkpoints per table
    _log(where, "a", steps)
    store = _store(where)
    objects = _objects(store)
    report = tablelog.verify(**where.kw())
    assert report.ok, report.problems
    assert (report.runs, report.tables, report.versions) == (1, 3, 3 * steps)
    assert report.objects == len(objects) and report.unreferenced == 0
    segments = {k for k in objects if k.endswith(".json.gz")}
    assert len(segments) >= 6 and report.bytes > 0
    deep = tablelog.verify(**where.kw(), deep=True)
    assert deep.ok and deep.objects == report.objects
    sizes = sum(len(store.get(k)) for k in objects)
    assert deep.bytes == sizes
    table = tablelog.verify("p/a/inc", **where.kw(), deep=True)
    assert table.ok and (table.tables, table.versions, table.unreferenced) == (1, steps, None)
    assert tablelog.verify("p", **where.kw()).tables == 3
    assert tablelog.verify("p/a", **where.kw()).versions == 3 * steps
    json.dumps(report.to_json())
    with pytest.raises(tablelog.NotFoundError, match="nothing to verify"):
        tablelog.verify("p/a/nope", **where.kw())
    with pytest.raises(tablelog.NotFoundError, match="nothing to verify"):
        tablelog.verify("q", **where.kw())
    with pytest.raises(tablelog.InvalidNameError):
        tablelog.verify("p/../x", **where.kw())


def _rewrite(store: Store, ref: TableRef, version: int, **fields: Any) -> str:
    key = ref.version_key(version)
    m = manifest_to_json(parse_manifest(store.get(key), where=key))
    m.update(fields)
    store.put(key, encode_manifest(parse_manifest(json.dumps(m).encode(), where=key)))
    return ref.version_url(version)


def _group_key(store: Store, ref: TableRef, version: int) -> str:
    m = parse_manifest(store.get(ref.version_key(version)), where="")
    return paths.object_key(m.change.add[0].groups[0].object)


def test_tampering_is_reported_at_its_location(where: Any) -> None:
    """One run per kind of damage (distinct data, so no object is shared)."""
    cases = ["bytes", "gone", "parent", "edited", "garbled", "newer", "segment"]
    for i, name in enumerate(cases):
        _log(where, name, 3, offset=100 * i, scalars=False)
    store = _store(where)
    ref = {n: TableRef(store, "p", n, "inc") for n in cases}
    expected: dict[tuple[str, str | None, int | None, str | None], str] = {}

    key = _group_key(store, ref["bytes"], 1)
    data = store.get(key)
    store.put(key, data[:-1] + bytes([data[-1] ^ 1]))
    bytes_problem = (store.full_url(key), "p/bytes/inc", 1, "1.0")

    key = _group_key(store, ref["gone"], 2)
    store.delete(key)
    expected[(store.full_url(key), "p/gone/inc", 2, "2.0")] = "object is missing"

    url = _rewrite(store, ref["parent"], 1, parent="0" * 64)
    expected[(url, None, None, None)] = "is not the digest of version 0"

    m = manifest_to_json(parse_manifest(store.get(ref["edited"].version_key(1)), where=""))
    edits: dict[str, Any] = {"step": 7}
    if "increments" in m:  # format 2: a manifest's step is its last increment's
        edits["increments"] = [{**inc, "step": 7} for inc in m["increments"]]
    _rewrite(store, ref["edited"], 1, **edits)  # parses, but version 2's parent is now wrong
    expected[(ref["edited"].version_url(2), None, None, None)] = "is not the digest of version 1"

    store.put(ref["garbled"].version_key(2), b'{"format_version": 1, "key": ')
    expected[(ref["garbled"].version_url(2), None, None, None)] = "not valid JSON"

    key = ref["newer"].version_key(2)
    m = json.loads(store.get(key))
    m["format_version"] = READ_FORMAT + 1  # a format this release cannot read
    store.put(key, json.dumps(m).encode())
    expected[(ref["newer"].version_url(2), None, None, None)] = "upgrade tablelog"

    m = parse_manifest(store.get(ref["segment"].version_key(0)), where="")
    assert m.checkpoint is not None
    key = paths.object_key(m.checkpoint[0].object, "json.gz")
    store.delete(key)
    expected[(store.full_url(key), "p/segment/inc", 0, None)] = "segment is missing"

    def found(report: tablelog.maintenance.Report) -> dict[tuple[Any, ...], str]:
        return {(p.location, p.table, p.version, p.fragment): p.message for p in report.problems}

    shallow = tablelog.verify(**where.kw())
    assert not shallow.ok
    assert found(shallow).keys() == expected.keys(), shallow.problems
    for where_, message in found(shallow).items():
        assert expected[where_] in message
    # The objects of the two unreadable manifests are referenced by nothing verify can read.
    assert shallow.unreferenced == 2
    deep = tablelog.verify(**where.kw(), deep=True)
    assert found(deep).keys() == {*expected, bytes_problem}
    assert "hash to" in found(deep)[bytes_problem]
    assert str(deep.problems[0]).startswith(deep.problems[0].location)
    only = tablelog.verify("p/gone/inc", **where.kw())
    assert [p.message for p in only.problems] == ["object is missing"]
    assert tablelog.verify("p/bytes", **where.kw()).ok
    # gc cannot tell what an unreadable manifest references, so it deletes nothing.
    before = _objects(store)
    with pytest.raises(tablelog.FormatError, match="deletes nothing"):
        tablelog.gc(**where.kw(), min_age=ZERO, dry_run=False, allow_short_grace=True)
    assert _objects(store) == before


def _orphans(store: Store) -> set[str]:
    keys = set()
    for i in range(3):
        data = f"orphan {i}".encode()
        keys.add(paths.object_key(digest_of(data)))
    keys.add(paths.object_key(digest_of(b"seg"), "json.gz"))
    keys.add(paths.media_key(digest_of(b"img"), "png"))
    keys.add("_tablelog/probes/0123456789abcdef0123456789abcdef")
    for k in keys:
        assert store.put_if_absent(k, b"x")
    # The runs' own probes (S3 stores prove create-if-absent once per handle).
    return keys | set(store.list("_tablelog/probes/"))


def _age(where: Any, keys: set[str]) -> None:
    for k in keys:
        os.utime(os.path.join(where.root, k), (OLD, OLD))


def test_gc_deletes_exactly_the_unreferenced(where: Any) -> None:
    _log(where, "a", 4)
    _log(where, "b", 3, offset=1000)
    store = _store(where)
    referenced = _objects(store)
    orphans = _orphans(store)
    dry = tablelog.gc(**where.kw(), min_age=ZERO)
    assert dry.dry_run and dry.deleted == 0 and dry.ok
    assert {g.key for g in dry.garbage} == orphans
    assert (dry.tables, dry.versions, dry.referenced) == (6, 3 * 4 + 3 * 3, len(referenced))
    assert all(store.exists(k) for k in orphans)
    probes = {k for k in orphans if k.startswith("_tablelog/")}
    assert tablelog.verify(**where.kw()).unreferenced == len(orphans - probes)
    size = sum(len(store.get(k)) for k in orphans)
    assert dry.bytes == size
    done = tablelog.gc(**where.kw(), min_age=ZERO, dry_run=False, allow_short_grace=True)
    assert done.deleted == len(orphans) and {g.key for g in done.garbage} == orphans
    assert done.bytes == size
    assert not any(store.exists(k) for k in orphans)
    assert _objects(store) == referenced
    report = tablelog.verify(**where.kw(), deep=True)
    assert report.ok and report.unreferenced == 0
    assert _every_version_reads(where) == dry.versions
    assert (
        tablelog.gc(**where.kw(), min_age=ZERO, dry_run=False, allow_short_grace=True).deleted == 0
    )


def test_gc_grace_period_and_old_referenced_objects(local: Any) -> None:
    _log(local, "a", 4)
    store = _store(local)
    referenced = _objects(store)
    _age(local, referenced)  # referenced objects are old too: gc must keep them
    orphans = _orphans(store)
    young = paths.object_key(digest_of(b"young"))
    store.put_if_absent(young, b"young")
    _age(local, orphans)
    tmp = os.path.join(local.root, "objects", ".tmp-deadbeef")
    with open(tmp, "wb") as f:
        f.write(b"partial")
    os.utime(tmp, (OLD, OLD))
    report = tablelog.gc(local.root, dry_run=False)
    assert {g.key for g in report.garbage} == {*orphans, "objects/.tmp-deadbeef"}
    assert report.young == 1 and report.bytes == len(orphans) + len(b"partial")
    assert _objects(store) == {*referenced, young} and not os.path.exists(tmp)
    assert tablelog.verify(root=local.root).ok
    assert tablelog.gc(local.root, min_age=dt.timedelta(hours=1)).young == 1
    with pytest.raises(ValueError, match="negative"):
        tablelog.gc(local.root, min_age=dt.timedelta(hours=-1))


def test_gc_refuses_to_delete_with_a_short_grace_unless_told(
    local: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """As delta-rs' vacuum: a grace period below the minimum deletes only when asked."""
    from tablelog.cli.main import main
    from tablelog.errors import InvalidArgumentError
    from tablelog.maintenance.garbage import MIN_GRACE

    store = open_store(local.root)
    store.put_if_absent("objects/aa/" + "a" * 64 + ".parquet", b"orphan")
    short = MIN_GRACE - dt.timedelta(seconds=1)
    for min_age in (dt.timedelta(0), short):
        with pytest.raises(InvalidArgumentError, match="allow_short_grace=True"):
            tablelog.gc(local.root, min_age=min_age, dry_run=False)
    assert len(_objects(store)) == 1  # nothing deleted
    assert len(tablelog.gc(local.root, min_age=dt.timedelta(0)).garbage) == 1  # a dry run lists
    assert tablelog.gc(local.root, min_age=MIN_GRACE, dry_run=False).young == 1  # the minimum
    with pytest.raises(SystemExit) as usage:
        main(["--root", local.root, "gc", "--min-age-hours", "0", "--delete"])
    assert usage.value.code == 2
    assert "--allow-short-grace" in capsys.readouterr().err
    assert len(_objects(store)) == 1
    argv = ["--root", local.root, "gc", "--min-age-hours", "0", "--delete", "--allow-short-grace"]
    assert main(argv) == 0
    assert _objects(store) == set()
    done = tablelog.gc(local.root, min_age=dt.timedelta(0), dry_run=False, allow_short_grace=True)
    assert done.deleted == 0


def _copy_old_object_of(local: Any, tmp_path: Any) -> str:
    """Put, as an old orphan, the Parquet object a log of ``_table()`` will produce."""
    scratch = tmp_path / "scratch"
    with tablelog.init(project="p", id="s", root=scratch) as run:
        run.log({"t": _table()})
    key = _group_key(open_store(scratch), TableRef(open_store(scratch), "p", "s", "t"), 0)
    store = _store(local)
    store.put_if_absent(key, (scratch / key).read_bytes())
    _age(local, {key})
    return key


def _table() -> tablelog.Table:
    return tablelog.Table(columns=["v"], data=[[42], [43]])


def test_gc_spares_an_old_object_a_new_commit_reused(
    local: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create-if-absent that finds the object is a no-op and leaves it old."""
    _log(local, "a", 2)
    key = _copy_old_object_of(local, tmp_path)
    original = gc_module._Mark.scan
    calls = []

    def scan(self: Any) -> None:
        original(self)
        calls.append(1)
        if len(calls) == 1:  # a commit lands between the mark and the deletion
            with local.init(id="late") as run:
                run.log({"t": _table()})

    monkeypatch.setattr(gc_module._Mark, "scan", scan)
    report = tablelog.gc(local.root, dry_run=False)
    assert report.spared == 1 and report.deleted == 0 and report.ok
    assert _store(local).exists(key)
    assert tablelog.verify(root=local.root, deep=True).ok
    assert local.scan("p/late/t").collect()["v"].to_list() == [42, 43]


def test_gc_reports_a_commit_that_landed_during_deletion(
    local: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remaining window: a manifest lands after the last re-check; gc says so."""
    _log(local, "a", 2)
    key = _copy_old_object_of(local, tmp_path)
    original = gc_module._Mark.scan
    calls = []

    def scan(self: Any) -> None:
        original(self)
        calls.append(1)
        if len(calls) == 2:
            with local.init(id="late") as run:
                run.log({"t": _table()})

    monkeypatch.setattr(gc_module._Mark, "scan", scan)
    report = tablelog.gc(local.root, dry_run=False)
    assert report.deleted == 1 and not report.ok
    [lost] = report.lost
    assert lost.location == _store(local).full_url(key) and "p/late/t" not in lost.location
    assert "runs/late/tables/t/versions/00000000000000000000.json" in lost.message
    after = tablelog.verify(root=local.root)
    assert [p.location for p in after.problems] == [lost.location]


def test_cli_verify_and_gc(local: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _log(local, "a", 2)
    store = _store(local)
    assert main(["--root", local.root, "verify"]) == 0
    assert capsys.readouterr().out.startswith("ok: 3 table(s), 6 version(s)")
    assert main(["--root", local.root, "verify", "p/a/inc", "--deep", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["versions"] == 2 and out["deep"]
    orphans = _orphans(store)
    _age(local, orphans)
    assert main(["--root", local.root, "gc"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(orphans) + 1 and lines[-1].startswith("would delete 6 object(s)")
    assert main(["--root", local.root, "gc", "--delete", "--min-age-hours", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["deleted"] == len(orphans) and not out["dry_run"]
    key = _group_key(store, TableRef(store, "p", "a", "inc"), 1)
    store.delete(key)
    assert main(["--root", local.root, "verify"]) == 1
    out_lines = capsys.readouterr().out.splitlines()
    assert out_lines[0].startswith(f"{store.full_url(key)} (referenced by p/a/inc version 1")
    assert out_lines[-1].startswith("1 problem(s)")
    assert main(["--root", local.root, "verify", "p/nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tablelog: error:") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["--root", local.root, "gc", "--min-age-hours", "-1"])
    assert exc.value.code == 2
