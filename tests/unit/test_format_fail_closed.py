"""A reader meets objects of a newer format: every reader refuses them with "upgrade
tablelog" and changes nothing (docs/format.md, "Versioning policy", "Format 2").

The table tests are those of a release that predates format 2 (``READ_FORMAT`` 1, its
writers writing format 1) meeting format-2 objects, which is what a team whose notebooks
were not upgraded meets; the parser tests check today's readers against the formats
after theirs."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

import tablelog
from tablelog import FormatError
from tablelog.format import paths
from tablelog.format.handle import open_table
from tablelog.format.manifest import canonical_json, parse_manifest, parse_segment
from tablelog.format.runinfo import parse_run_info
from tablelog.objects.cas import digest_of
from tablelog.objects.open import open_store
from tablelog.objects.store import Store

_roots = itertools.count()
UPGRADE = r"format version 2, but this tablelog reads format version 1 at most: upgrade tablelog"


def _root(name: str) -> str:
    return f"memory://fail-closed-{name}-{next(_roots)}"


def _log(root: str, versions: int) -> Store:
    """Run ``p/r`` with an INCREMENTAL table ``t`` of ``versions`` versions."""
    with tablelog.init(project="p", id="r", root=root) as run:
        table = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
        for step in range(versions):
            table.add_data(step)
            run.log({"t": table}, step=step)
    tablelog.clear_caches()  # a reader that opens the table later starts cold
    return open_store(root)


def _snapshot(store: Store) -> dict[str, bytes]:
    return {k: store.get(k) for k in store.list("")}


def _as_format_2(doc: dict[str, Any]) -> dict[str, Any]:
    """A format-1 manifest document as the format-2 writer would shape it (the reader
    must refuse it on ``format_version`` alone, whatever the other fields say)."""
    doc = dict(doc, format_version=2, increments=[], increment_count=doc["version"] + 1)
    change = dict(doc["change"])
    change["add"] = [_fragment_2(f) for f in change["add"]]
    doc["change"] = change
    return doc


def _fragment_2(f: dict[str, Any]) -> dict[str, Any]:
    f = dict(f, first=f["increment"], last=f["increment"])
    del f["increment"]
    return f


def _rewrite_chain_as_format_2(store: Store, versions: int) -> None:
    """Every manifest of ``p/r/t`` rewritten as format 2, the parent digests kept right."""
    parent = None
    for v in range(versions):
        key = paths.version_key("p", "r", "t", v)
        doc = _as_format_2(json.loads(store.get(key)))
        doc["parent"] = parent
        data = canonical_json(doc)
        # A well-formed format-2 manifest: the readers refuse it for its format alone.
        assert parse_manifest(data, where=key, max_format=2).format_version == 2
        store.put(key, data)
        parent = digest_of(data)


def _readers(root: str) -> dict[str, Callable[[], object]]:
    return {
        "scan": lambda: tablelog.scan("p/r/t", root=root).collect(),
        "scan version 0": lambda: tablelog.scan("p/r/t", root=root, version=0).collect(),
        "scan step": lambda: tablelog.scan("p/r/t", root=root, step=1).collect(),
        "scan increment": lambda: tablelog.scan("p/r/t", root=root, increment=0).collect(),
        "history": lambda: tablelog.history("p/r/t", root=root),
        "files": lambda: tablelog.files("p/r/t", root=root),
        "scan_runs": lambda: tablelog.scan_runs("p/*/t", root=root).collect(),
        "open_table().state()": lambda: open_table("p/r/t", root=root).state(),
        "compact": lambda: tablelog.compact("p/r/t", root=root),
    }


@pytest.mark.usefixtures("reader_before_format_2", "write_format_1")
@pytest.mark.parametrize("reader", list(_readers("")))
def test_every_reader_refuses_a_format_2_table(reader: str) -> None:
    root = _root("manifest")
    store = _log(root, 3)
    _rewrite_chain_as_format_2(store, 3)
    before = _snapshot(store)
    tablelog.clear_caches()
    with pytest.raises(
        FormatError, match=f"manifest .*/versions/0+[0-2].json was written with {UPGRADE}"
    ):
        _readers(root)[reader]()
    assert _snapshot(store) == before


@pytest.mark.usefixtures("reader_before_format_2", "write_format_1")
def test_format_2_on_top_of_a_format_1_chain_is_refused() -> None:
    # A newer writer never upgrades a chain, but a reader must not take the format-1
    # prefix of one either: the newest manifest is what it reads first.
    root = _root("mixed")
    store = _log(root, 2)
    key = paths.version_key("p", "r", "t", 1)
    store.put(key, canonical_json(_as_format_2(json.loads(store.get(key)))))
    before = _snapshot(store)
    with pytest.raises(FormatError, match=f"/versions/0+1.json was written with {UPGRADE}"):
        tablelog.scan("p/r/t", root=root)
    assert tablelog.scan("p/r/t", root=root, version=0).collect()["a"].to_list() == [0]
    assert _snapshot(store) == before


@pytest.mark.usefixtures("reader_before_format_2", "write_format_1")
def test_a_resumed_run_does_not_append_format_1_to_a_format_2_table() -> None:
    root = _root("resume")
    store = _log(root, 2)
    _rewrite_chain_as_format_2(store, 2)
    before = _snapshot(store)
    with pytest.raises(FormatError, match=f"/versions/0+1.json was written with {UPGRADE}"):
        tablelog.init(project="p", id="r", root=root, resume="must")
    assert _snapshot(store) == before


@pytest.mark.usefixtures("reader_before_format_2", "write_format_1")
def test_a_writer_does_not_append_format_1_to_a_format_2_table() -> None:
    # A handle that was open before the table existed meets it as format 2 at its log.
    root = _root("writer")
    run = tablelog.init(project="p", id="r", root=root)
    try:
        store = open_store(root)
        with tablelog.init(project="p", id="r", root=root, resume="allow") as other:
            table = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
            for step in range(2):
                table.add_data(step)
                other.log({"t": table}, step=step)
        _rewrite_chain_as_format_2(store, 2)
        tablelog.clear_caches()
        manifests = {k: store.get(k) for k in store.list("") if "/versions/" in k}
        table = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
        table.add_data(99)
        with pytest.raises(FormatError, match=UPGRADE):
            run.log({"t": table}, step=5)
            run.finish()  # (a log that commits in the background reports here)
    finally:
        run.finish(exit_code=1)
    assert {k: store.get(k) for k in store.list("") if "/versions/" in k} == manifests


@pytest.mark.usefixtures("reader_before_format_2", "write_format_1")
def test_verify_and_gc_refuse_a_format_2_table_and_delete_nothing() -> None:
    root = _root("maint")
    store = _log(root, 2)
    _rewrite_chain_as_format_2(store, 2)
    before = _snapshot(store)
    report = tablelog.verify(root=root)
    assert not report.ok
    messages = [p.message for p in report.problems]
    assert messages and all("upgrade tablelog" in m for m in messages), messages
    with pytest.raises(FormatError, match=f"{UPGRADE}.*deletes nothing"):
        tablelog.gc(root, min_age=dt.timedelta(0), dry_run=False, allow_short_grace=True)
    assert _snapshot(store) == before


@pytest.mark.usefixtures("reader_before_format_2", "write_format_1")
def test_a_format_2_checkpoint_segment_is_refused() -> None:
    root = _root("segment")
    store = _log(root, 1)
    key = paths.version_key("p", "r", "t", 0)
    doc = json.loads(store.get(key))
    (ref,) = doc["checkpoint"]
    seg_key = paths.object_key(ref["object"], "json.gz")
    seg = json.loads(gzip.decompress(store.get(seg_key)))
    seg = {"format_version": 2, "fragments": [_fragment_2(f) for f in seg["fragments"]]}
    seg_data = gzip.compress(canonical_json(seg), mtime=0)
    assert len(parse_segment(seg_data, where=seg_key, max_format=2)) == ref["fragments"]
    new_ref = digest_of(seg_data)
    store.put(paths.object_key(new_ref, "json.gz"), seg_data)
    doc["checkpoint"] = [{"object": new_ref, "fragments": ref["fragments"]}]
    store.put(key, canonical_json(doc))
    before = _snapshot(store)
    tablelog.clear_caches()
    message = f"checkpoint segment .*{new_ref}.json.gz was written with {UPGRADE}"
    with pytest.raises(FormatError, match=message):
        tablelog.scan("p/r/t", root=root)
    report = tablelog.verify(root=root)
    assert [p.message for p in report.problems if "upgrade tablelog" in p.message], report
    with pytest.raises(FormatError, match=message):
        tablelog.gc(root, min_age=dt.timedelta(0), dry_run=False, allow_short_grace=True)
    assert _snapshot(store) == before


@pytest.mark.usefixtures("reader_before_format_2", "write_format_1")
def test_a_format_2_run_json_is_refused() -> None:
    root = _root("runjson")
    store = _log(root, 1)
    key = paths.run_json_key("p", "r")
    store.put(key, canonical_json(dict(json.loads(store.get(key)), format_version=2)))
    before = _snapshot(store)
    message = f"run.json .*run.json was written with {UPGRADE}"
    with pytest.raises(FormatError, match=message):
        tablelog.runs("p", root=root)
    with pytest.raises(FormatError, match=message):
        tablelog.init(project="p", id="r", root=root, resume="must")
    report = tablelog.verify(root=root)
    assert [(p.location, p.message) for p in report.problems] == [
        (
            store.full_url(key),
            f"run.json {store.full_url(key)} was written with {UPGRADE}",
        )
    ]
    assert _snapshot(store) == before


def _segment(doc: object) -> bytes:
    return gzip.compress(json.dumps(doc).encode(), mtime=0)


def _manifest(fv: object) -> bytes:
    doc = {"format_version": fv, "key": "t"} if fv is not None else {"key": "t"}
    return json.dumps(doc).encode()


def _run_json(fv: object) -> bytes:
    doc: dict[str, Any] = {
        "project": "p",
        "run_id": "r",
        "name": None,
        "config": {},
        "status": "running",
        "created": 1.0,
        "updated": 1.0,
        "last_step": None,
    }
    if fv is not None:
        doc["format_version"] = fv
    return json.dumps(doc).encode()


PARSERS: dict[str, tuple[str, Callable[[object], Callable[[], object]]]] = {
    "manifest": ("manifest", lambda fv: lambda: parse_manifest(_manifest(fv), where="u")),
    "segment": (
        "checkpoint segment",
        lambda fv: (
            lambda: parse_segment(
                _segment({"fragments": []} | ({} if fv is None else {"format_version": fv})),
                where="u",
            )
        ),
    ),
    "run.json": ("run.json", lambda fv: lambda: parse_run_info(_run_json(fv), where="u")),
}


#: The newest format each object is read in (manifests and segments: format 2, issue
#: #18; run.json is still format 1).
NEWEST = {"manifest": 2, "segment": 2, "run.json": 1}


@pytest.mark.parametrize("parser", list(PARSERS))
@pytest.mark.parametrize("above", [1, 2, 10**30])
def test_each_versioned_object_names_itself_and_its_newer_format(parser: str, above: int) -> None:
    what, call = PARSERS[parser]
    fv = NEWEST[parser] + above
    with pytest.raises(FormatError) as info:
        call(fv)()
    assert str(info.value) == (
        f"{what} u was written with format version {fv}, but this tablelog reads format "
        f"version {NEWEST[parser]} at most: upgrade tablelog"
    )


@pytest.mark.parametrize("parser", list(PARSERS))
@pytest.mark.parametrize("fv", [0, -1, None, True, False, 1.0, "1", [1]])
def test_an_older_or_unknown_format_is_damage_not_an_upgrade(parser: str, fv: object) -> None:
    what, call = PARSERS[parser]
    with pytest.raises(FormatError) as info:
        call(fv)()
    message = str(info.value)
    assert message.startswith(f"{what} u ") and "damaged or not a tablelog object" in message
    assert "upgrade" not in message


def test_a_shard_never_overwrites_a_newer_run_json() -> None:
    """Every rank of a sharded run rewrites run.json, keeping the others' news: one that
    finds a newer tablelog's run.json raises instead of replacing it with format 1."""
    root = _root("shard-runjson")
    run = tablelog.init(project="p", id="r", root=root, shard="s0")
    table = tablelog.Table(columns=["a"], data=[[1]])
    run.log({"t": table})
    store = open_store(root)
    key = paths.run_json_key("p", "r")
    newer = canonical_json(dict(json.loads(store.get(key)), format_version=2))
    store.put(key, newer)
    with pytest.raises(tablelog.NewerFormatError, match=f"run.json .* {UPGRADE}"):
        run.finish()
    assert store.get(key) == newer
    tablelog.clear_caches()
    assert tablelog.scan("p/r/t", root=root, shard="s0").collect()["a"].to_list() == [1]
