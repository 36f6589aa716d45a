"""The latest-version hint (docs/format.md, "Latest-version hint", issue 18): written
after commits, at finish and by compact; readers check it and never read a wrong
version because of it, whatever it holds; a cold open of the newest version on
SeaweedFS costs a few requests at any number of versions."""

from __future__ import annotations

import datetime as dt
import math
import os
import threading
import time
from typing import Any

import pytest
from faultproxy import FaultProxy, Request
from where import Where

import tablelog
from tablelog.format import chain
from tablelog.format.chain import STATES, TableRef, latest_version, write_format
from tablelog.format.hint import MAX_HINT_BYTES, encode_hint, parse_hint
from tablelog.objects import open_store
from tablelog.objects.store import Store


def _store(where: Where) -> Store:
    return open_store(where.root, storage_options=where.storage_options)


def _hint(ref: TableRef) -> int | None:
    """The version the table's hint names (None: no hint, or not a hint)."""
    try:
        hint = parse_hint(ref.store.get(ref.hint_key))
    except FileNotFoundError:
        return None
    return None if hint is None else hint.version


def _log(run: tablelog.Run, n: int, *, key: str = "t", start: int = 0) -> tablelog.Table:
    """``n`` logs, each committed before the next (flush): ``n`` versions, as the hint's
    tests count them (a busy commit thread would group them, docs/format.md "Commits")."""
    t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    for i in range(start, start + n):
        t.add_data(i)
        run.log({key: t}, step=i)
        run.flush()
    return t


def _truth(ref: TableRef) -> int:
    """The newest version by listing every manifest name (no hint, no search)."""
    from tablelog.format import paths

    names = {paths.parse_version_name(k.rsplit("/", 1)[-1]) for k in ref.store.list(
        ref.versions_prefix)}  # fmt: skip
    newest = -1
    while newest + 1 in names:
        newest += 1
    return newest


def _cold(ref: TableRef) -> int:
    STATES.clear()  # a reader in a new process
    return latest_version(ref)


def test_hint_is_written_at_finish_and_by_compact(where: Where) -> None:
    run = where.init()
    _log(run, 40)
    run.finish()
    ref = TableRef(_store(where), "p", run.id, "t")
    assert _hint(ref) == 39 == _truth(ref)
    done = tablelog.compact(f"p/{run.id}/t", **where.kw())
    assert done.version == 40 and _hint(ref) == 40
    assert _cold(ref) == 40
    df = where.scan(f"p/{run.id}/t").collect()
    assert sorted(df["i"].to_list()) == list(range(40))


def test_hint_object_is_canonical_and_beside_the_versions(where: Where) -> None:
    run = where.init()
    _log(run, 3)
    run.finish()
    ref = TableRef(_store(where), "p", run.id, "t")
    assert ref.hint_key == f"projects/p/runs/{run.id}/tables/t/_latest.json"
    # The newest version, and copies of its manifest and the one before, byte for byte.
    copies = {v: ref.store.get(ref.version_key(v)) for v in (1, 2)}
    assert ref.store.get(ref.hint_key) == encode_hint(2, copies)
    assert encode_hint(2) == b'{"version":2}'
    hint = parse_hint(encode_hint(2, copies))
    assert hint is not None and hint.version == 2 and hint.copies == copies
    assert ref.hint_key not in set(ref.store.list(ref.versions_prefix))
    assert tablelog.verify(**where.kw()).ok
    report = tablelog.gc(**where.kw(), dry_run=True, min_age=dt.timedelta(0))
    assert ref.hint_key not in {g.key for g in report.garbage}


@pytest.mark.parametrize("kind", [pytest.param("seaweedfs", marks=pytest.mark.s3), "local"])
def test_commit_thread_writes_the_hint_on_network_stores(make_root: Any, kind: str) -> None:
    """On S3 the hint follows the commits while the run goes on (when the queue goes
    idle); on a local folder, where a search is cheap, only finish() writes it."""
    where = make_root(kind)
    run = where.init()
    _log(run, 5)
    run.flush()
    ref = TableRef(_store(where), "p", run.id, "t")
    deadline = time.monotonic() + 10
    while kind != "local" and _hint(ref) != 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _hint(ref) == (4 if kind != "local" else None)
    time.sleep(1.1)  # past HINT_EVERY_S: the next drained queue writes it again
    _log(run, 3, start=5)
    run.flush()
    deadline = time.monotonic() + 10
    while kind != "local" and _hint(ref) != 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _hint(ref) == (7 if kind != "local" else None)
    run.finish()
    assert _hint(ref) == 7


FORGED = {
    "stale": lambda n: encode_hint(n - 7),
    "stale, naming version 0": lambda n: encode_hint(0),
    "beyond the end": lambda n: encode_hint(n + 1),
    "far beyond the end": lambda n: encode_hint(10**19),
    "the largest allowed": lambda n: encode_hint(10**20 - 2),
    "garbage": lambda n: b"\x00\xffnot json",
    "not an object": lambda n: b"[3]",
    "negative": lambda n: b'{"version":-1}',
    "a float": lambda n: b'{"version":3.0}',
    "a bool": lambda n: b'{"version":true}',
    "a string": lambda n: b'{"version":"3"}',
    "another key too": lambda n: b'{"version":3,"x":1}',
    "too long": lambda n: b'{"version":3}' + b" " * MAX_HINT_BYTES,
    "empty": lambda n: b"",
}


@pytest.mark.parametrize("forged", sorted(FORGED))
def test_a_forged_or_stale_hint_costs_time_never_the_version(where: Where, forged: str) -> None:
    run = where.init()
    _log(run, 40)
    run.finish()
    ref = TableRef(_store(where), "p", run.id, "t")
    ref.store.put(ref.hint_key, FORGED[forged](39))
    assert _cold(ref) == 39
    df = where.scan(f"p/{run.id}/t").collect()  # a cold scan (STATES was cleared above)
    assert sorted(df["i"].to_list()) == list(range(40))
    STATES.clear()
    assert where.history(f"p/{run.id}/t").height == 40


def _two_tables(where: Where, t: int, u: int) -> tuple[tablelog.Run, TableRef, TableRef]:
    """A finished run with tables ``t`` and ``u`` of that many versions each."""
    run = where.init()
    _log(run, t)
    _log(run, u, key="u", start=t)
    run.finish()
    store = _store(where)
    return run, TableRef(store, "p", run.id, "t"), TableRef(store, "p", run.id, "u")


def _copies(ref: TableRef, *versions: int) -> dict[int, bytes]:
    return {v: ref.store.get(ref.version_key(v)) for v in versions}


def _other(data: bytes) -> bytes:
    """The same manifest with one byte more: another MD5, so another ETag."""
    return data.replace(b'{"', b'{ "', 1)


#: Hints with copies of manifests (n is the newest version; ``t`` is the table, ``u``
#: another table of the same run with as many versions).
FORGED_COPIES = {
    "copies that are not the manifests": lambda t, u, n: encode_hint(
        n, {v: _other(d) for v, d in _copies(t, n - 1, n).items()}
    ),
    "copies of another table's manifests": lambda t, u, n: encode_hint(n, _copies(u, n - 1, n)),
    "a copy of the manifest before, under n": lambda t, u, n: encode_hint(
        n, {n: _copies(t, n - 1)[n - 1]}
    ),
    "stale, with its manifests' copies": lambda t, u, n: encode_hint(
        n - 7, _copies(t, n - 8, n - 7)
    ),
    "beyond the end, with copies": lambda t, u, n: encode_hint(n + 1, _copies(t, n)),
    "copies of versions it does not name": lambda t, u, n: b'{"manifests":{"3":"{}"},"version":9}',
    "a copy that is not text": lambda t, u, n: b'{"manifests":{"%d":7},"version":%d}' % (n, n),
    "a copy with a lone surrogate": lambda t, u, n: (
        b'{"manifests":{"%d":"\\ud800"},"version":%d}' % (n, n)
    ),
    "copies that are not an object": lambda t, u, n: b'{"manifests":["{}"],"version":%d}' % n,
}


@pytest.fixture
def near(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers take every store for a near one: on S3 the hint check lists manifests
    n-1..n+1 and uses the hint's copies (chain.NEAR_STORE_S), whatever the machine's
    load makes of the hint GET's time."""
    monkeypatch.setattr(chain, "NEAR_STORE_S", math.inf)


@pytest.mark.usefixtures("near")
@pytest.mark.parametrize("forged", sorted(FORGED_COPIES))
def test_copies_in_a_hint_cost_time_never_the_version(where: Where, forged: str) -> None:
    """A copy is taken for a manifest only where the store lists that manifest with the
    copy's MD5 as its ETag; anything else is fetched, or the hint ignored."""
    run, ref, other = _two_tables(where, 40, 40)
    store = ref.store
    store.put(ref.hint_key, FORGED_COPIES[forged](ref, other, 39))
    assert _cold(ref) == 39
    STATES.clear()
    df = where.scan(f"p/{run.id}/t").collect()
    assert sorted(df["i"].to_list()) == list(range(40))
    STATES.clear()
    assert where.history(f"p/{run.id}/t").height == 40


def test_a_hint_naming_a_manifest_of_another_table_or_past_a_gap_is_refused(
    where: Where,
) -> None:
    """A version name past a gap (a stray manifest copied from another table) named by
    the hint: the manifest does not say it is that version of this table."""
    _, ref, other = _two_tables(where, 10, 50)
    store = ref.store
    store.put(ref.version_key(20), store.get(other.version_key(20)))  # past a gap
    store.put(ref.hint_key, encode_hint(20))
    assert _cold(ref) == 9
    store.put(ref.hint_key, encode_hint(20, _copies(ref, 20)))  # its copy matches
    assert _cold(ref) == 9
    store.put(ref.version_key(19), store.get(other.version_key(19)))
    store.put(ref.hint_key, encode_hint(20, _copies(ref, 19, 20)))  # both match
    assert _cold(ref) == 9
    store.put(ref.hint_key, encode_hint(9))
    assert _cold(ref) == 9


def test_a_deleted_hint_and_a_deleted_table(where: Where) -> None:
    run = where.init()
    _log(run, 12)
    run.finish()
    ref = TableRef(_store(where), "p", run.id, "t")
    ref.store.delete(ref.hint_key)
    assert _cold(ref) == 11
    ref.store.put(ref.hint_key, encode_hint(11))
    for v in range(12):  # the table deleted, its hint left behind
        ref.store.delete(ref.version_key(v))
    assert _cold(ref) == -1
    with pytest.raises(tablelog.NotFoundError):
        where.scan(f"p/{run.id}/t")


def test_a_corrupt_newest_manifest_is_still_reported(where: Where) -> None:
    """The hint check does not hide a damaged manifest: the search finds the version
    and reading it fails, naming it, as without a hint."""
    run = where.init()
    _log(run, 5)
    run.finish()
    ref = TableRef(_store(where), "p", run.id, "t")
    ref.store.put(ref.version_key(4), b"{not json")
    assert _cold(ref) == 4
    STATES.clear()
    with pytest.raises(tablelog.FormatError, match="00000000000000000004"):
        where.scan(f"p/{run.id}/t")


# ------------------------------------------------------------ requests on SeaweedFS


def _is_hint(r: Request) -> bool:
    return r.key.endswith("/_latest.json")


@pytest.mark.s3
@pytest.mark.slow
def test_cold_open_of_the_newest_version_takes_2_requests(
    seaweedfs_where: Where, seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10, 100 and 1,000 versions: the reader goes through the fault proxy, which
    records each request; the writer writes directly. A near store (the hint check
    lists), then the same store taken for a far one (it fetches)."""
    monkeypatch.setattr(chain, "NEAR_STORE_S", math.inf)
    where = seaweedfs_where
    srv = seaweedfs_server
    run = where.init()
    path_t = "t"
    t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    written = 0
    lines = []
    with FaultProxy(srv.endpoint_url) as proxy:
        opts = proxy.storage_options(srv.key, srv.secret, srv.region)
        reader = TableRef(open_store(where.root, storage_options=opts), "p", run.id, path_t)
        for n in (10, 100, 1000):
            for i in range(written, n):
                t.add_data(i)
                run.log({path_t: t}, step=i)
                run.flush()  # (a version per log: the counts are versions)
            written = n
            run.flush()
            hint_ref = TableRef(_store(where), "p", run.id, path_t)
            until = time.monotonic() + 10  # the commit thread writes it once idle
            while _hint(hint_ref) != n - 1 and time.monotonic() < until:
                time.sleep(0.05)
            proxy.reset()
            t0 = time.monotonic()
            assert _cold(reader) == n - 1
            ms = (time.monotonic() - t0) * 1000
            reqs = proxy.snapshot()
            # The hint, then one LIST of manifests n-1, n, n+1 (with the ETags the
            # hint's copies of n-1 and n match).
            assert len(reqs) == 2 and _is_hint(reqs[0]), [str(r) for r in reqs]
            assert "list-type" in reqs[1].query, [str(r) for r in reqs]
            # A plain hint (the version only, as writers wrote it before the copies):
            # the hint, then GETs of manifests n-1, n, n+1 in one round.
            hinted = reader.store.get(reader.hint_key)
            reader.store.put(reader.hint_key, encode_hint(n - 1))
            proxy.reset()
            assert _cold(reader) == n - 1
            plain = proxy.snapshot()
            assert [r.method for r in plain] == ["GET"] * 4, [str(r) for r in plain]
            assert _is_hint(plain[0]) and not any("list-type" in r.query for r in plain)
            reader.store.put(reader.hint_key, hinted)
            # A far store: the hint's copies are not used, as with a plain hint.
            monkeypatch.setattr(chain, "NEAR_STORE_S", 0.0)
            proxy.reset()
            assert _cold(reader) == n - 1
            far = proxy.snapshot()
            assert [r.method for r in far] == ["GET"] * 4, [str(r) for r in far]
            assert not any("list-type" in r.query for r in far)
            monkeypatch.setattr(chain, "NEAR_STORE_S", math.inf)
            # The whole open (scan, before collect): the newest manifest is never
            # fetched (the hint's copy of it is its bytes).
            STATES.clear()
            proxy.reset()
            lf = tablelog.scan(f"p/{run.id}/{path_t}", root=where.root, storage_options=opts)
            opened = proxy.snapshot()
            newest = reader.version_key(n - 1)
            assert sum(r.key.endswith(newest) for r in opened) == 0
            assert lf.select("i").collect().height == n
            lines.append(f"{n} versions: {len(reqs)} requests, {ms:.1f} ms; scan open "
                         f"{len(opened)} requests")  # fmt: skip
        # Stale by 30 versions: the hint, its LIST (n + 1 is there), and the search's
        # LIST from n. (The run is finished first: its commit thread would otherwise
        # rewrite the hint once idle.)
        hinted = reader.store.get(reader.hint_key)
        for i in range(written, written + 30):
            t.add_data(i)
            run.log({path_t: t}, step=i)
            run.flush()
        run.finish()
        reader.store.put(reader.hint_key, hinted)
        proxy.reset()
        assert _cold(reader) == written + 29
        stale = proxy.snapshot()
        assert len(stale) == 3 and _is_hint(stale[0]), [str(r) for r in stale]
        assert sum("list-type" in r.query for r in stale) == 2
        # No hint: one GET (404) more than the search.
        reader.store.delete(reader.hint_key)
        proxy.reset()
        assert _cold(reader) == written + 29
        missing = proxy.snapshot()
        assert _is_hint(missing[0]) and missing[0].status == 404
        assert not any(_is_hint(r) for r in missing[1:])
        lines.append(f"stale hint: {len(stale)} requests; no hint: {len(missing)} requests")
    print("\n" + "\n".join(lines))


@pytest.mark.s3
@pytest.mark.usefixtures("near")
def test_compacted_table_opens_in_2_requests(seaweedfs_where: Where, seaweedfs_server: Any) -> None:
    """The hint compact writes copies its manifest and the one before (which it read):
    the open is the hint and one LIST, then Polars reads the object."""
    where, srv = seaweedfs_where, seaweedfs_server
    run = where.init()
    _log(run, 70)
    run.finish()
    tablelog.compact(f"p/{run.id}/t", **where.kw())
    with FaultProxy(srv.endpoint_url) as proxy:
        opts = proxy.storage_options(srv.key, srv.secret, srv.region)
        STATES.clear()
        lf = tablelog.scan(f"p/{run.id}/t", root=where.root, storage_options=opts)
        opened = proxy.snapshot()
        assert len(opened) == 2, [str(r) for r in opened]
        assert lf.collect().height == 70


# ----------------------------------------------------- a writer and a reader at once


@pytest.mark.parametrize("kind", ["local", pytest.param("seaweedfs", marks=pytest.mark.s3)])
def test_a_reader_beside_a_writer_sees_a_committed_newest_version(
    make_root: Any, kind: str
) -> None:
    """Cold opens while a run commits (and rewrites its hint): each finds a version at
    least as new as every version flushed before it started, never one that does not
    exist, and reads exactly that version's rows."""
    where = make_root(kind)
    run = where.init(sync=True)  # (a version per log: version n holds rows 0..n)
    t = _log(run, 1)
    run.flush()
    ref = TableRef(_store(where), "p", run.id, "t")
    flushed = [0]
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(1, 400):
                if stop.is_set():
                    break
                t.add_data(i)
                run.log({"t": t}, step=i)
                if i % 7 == 0:
                    run.flush()
                    flushed[0] = i
                    if kind == "local":  # (local: only finish writes it; forge a stale one)
                        ref.store.put(ref.hint_key, encode_hint(max(i - 20, 0)))
        except BaseException as e:  # reported below
            errors.append(e)

    writer = threading.Thread(target=write)
    writer.start()
    reads = 0
    try:
        while writer.is_alive() and reads < 60:
            before = flushed[0]
            STATES.clear()
            found = latest_version(ref)
            assert found >= before
            df = tablelog.scan(f"p/{run.id}/t", **where.kw(), version=found).collect()
            assert sorted(df["i"].to_list()) == list(range(found + 1))
            reads += 1
    finally:
        stop.set()
        writer.join()
    assert not errors, errors
    run.finish()
    assert reads >= 5
    assert _cold(ref) == _truth(ref) == _hint(ref)


def test_an_offline_run_gets_its_hint_from_sync(
    where: Where, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLELOG_SPOOL", str(tmp_path / "spool"))
    run = where.init(mode="offline")
    _log(run, 6)
    run.finish()
    ref = TableRef(_store(where), "p", run.id, "t")
    assert _hint(ref) is None and _truth(ref) == -1  # nothing reached the store
    assert tablelog.sync(tmp_path / "spool", storage_options=where.storage_options) == (6, 0)
    # (sync commits the 6 INCREMENTAL logs as one version, docs/format.md "Commits";
    # one each in format 1)
    last = 0 if write_format() == 2 else 5
    assert _hint(ref) == last == _cold(ref) == _truth(ref)
    incs = tablelog.history(f"p/{run.id}/t", per="increment", **where.kw())
    assert incs["increment"].to_list() == list(range(6))
    assert incs["version"].to_list() == ([0] * 6 if last == 0 else list(range(6)))


# ------------------------------------------------- found in review of the first cut


def test_a_table_deleted_and_written_again_is_never_read_from_an_earlier_check(
    where: Where,
) -> None:
    """Manifest bytes fetched while checking a hint serve only the read that follows on
    the same handle: never a later read of a table written again under the name."""

    def write(values: list[str]) -> None:
        with where.init(id="fixed", sync=True) as run:  # (a version per log)
            t = tablelog.Table(columns=["v"], log_mode="INCREMENTAL")
            for i, v in enumerate(values):
                t.add_data(v)
                run.log({"t": t}, step=i)

    write(["old0", "old1", "old2"])
    assert where.scan("p/fixed/t", version=1).collect()["v"].to_list() == ["old0", "old1"]
    store = _store(where)
    for key in list(store.list("projects/p/runs/fixed/")):
        store.delete(key)
    write(["new0", "new1", "new2", "new3", "new4"])
    got = where.scan("p/fixed/t", version=2).collect()["v"].to_list()
    assert got == ["new0", "new1", "new2"]


def test_a_manifest_copied_from_another_run_past_a_gap_is_not_the_newest(where: Where) -> None:
    """Manifests do not name their run: the hint's check also needs manifest n - 1 of
    this table to be manifest n's parent."""
    for run_id, n in (("r1", 10), ("r2", 25)):
        with where.init(id=run_id) as run:
            _log(run, n)
    store = _store(where)
    ref, other = TableRef(store, "p", "r1", "t"), TableRef(store, "p", "r2", "t")
    store.put(ref.version_key(20), store.get(other.version_key(20)))
    store.put(ref.hint_key, encode_hint(20))
    assert _cold(ref) == 9
    assert where.scan("p/r1/t").collect()["i"].to_list() == list(range(10))


def test_a_hint_that_cannot_be_written_never_fails_finish(local: Where) -> None:
    """A directory where the hint goes stands for any local write error (disk full, a
    file held open): finish() still writes run.json."""
    run = local.init(id="r")
    _log(run, 3)
    ref = TableRef(_store(local), "p", "r", "t")
    os.makedirs(os.path.join(local.root, ref.hint_key))
    run.finish()
    assert tablelog.runs("p", **local.kw())["status"].to_list() == ["finished"]
    assert local.scan("p/r/t").collect()["i"].to_list() == [0, 1, 2]
