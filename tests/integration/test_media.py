"""Rich values: every value type and media cell round-trips through every log mode and
store; media blobs are stored once, never read by scans of other columns, kept by gc
and reported cell by cell by verify when lost."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scale
from faultproxy import FaultProxy
from servers import S3Server

import tablelog
import tablelog as wandb
from tablelog.format import paths
from tablelog.maintenance.check import Cell
from tablelog.objects import open_store
from tablelog.objects.store import Store

MODES = ["IMMUTABLE", "MUTABLE", "INCREMENTAL"]
NUMPY_SCALARS = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
]
PARIS = dt.timezone(dt.timedelta(hours=2))
_counter = itertools.count()


def _store(where: Any) -> Store:
    return open_store(where.root, storage_options=where.storage_options)


def _image(i: int, size: int = 8) -> tablelog.Image:
    pixels = np.zeros((size, size, 3), dtype=np.uint8)
    pixels[:, :, 0] = np.arange(size, dtype=np.uint8)[None, :] * 3 + i
    pixels[:, :, 1] = (i * 7) % 256
    return wandb.Image(pixels, caption=f"image {i}")


def _row(i: int, tmp_path: Path) -> dict[str, Any]:
    """One value of every type a user logs, for row ``i``."""
    video = tmp_path / f"clip{i % 2}.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes([i % 2]) * 64)
    row: dict[str, Any] = {
        f"np_{name}": getattr(np, name)((i % 100) + 1.5 if "float" in name else i % 100)
        for name in NUMPY_SCALARS
    }
    row.update(
        np_uint64_big=np.uint64(2**63 + i),
        np_bool=np.bool_(i % 2 == 0),
        np_str=np.str_(f"s{i}"),
        np_datetime=np.datetime64("2024-01-01T00:00:00") + np.timedelta64(i, "h"),
        array=np.arange(6, dtype=np.float32).reshape(2, 3) + i,
        vector=np.arange(4, dtype=np.int64) * i,
        pandas_na=pd.NA if i % 3 == 0 else i,
        pandas_ts=pd.Timestamp("2024-03-01 12:00", tz="Europe/Paris") + pd.Timedelta(days=i),
        tz_datetime=dt.datetime(2024, 5, 1, 12, i % 60, tzinfo=PARIS),
        date=dt.date(2024, 1, 1 + i % 28),
        duration=dt.timedelta(seconds=i, microseconds=7),
        clock=dt.time(i % 24, 30),
        np_timedelta=np.timedelta64(i, "ms"),
        zero_d=np.array(i * 2),
        decimal=decimal.Decimal(f"{i}.25"),
        raw=bytes([i % 256, 0, 255]),
        nested={"a": i, "b": {"c": [i, i + 1]}} if i % 2 else {"z": f"v{i}", "deep": {"y": None}},
        none=None,
        maybe=None if i % 4 == 1 else f"m{i}",
        image=_image(i),
        audio=wandb.Audio(np.sin(np.linspace(0, 20, 800)) * (i % 3) / 3, sample_rate=8000),
        html=wandb.Html(f"<p>row {i}</p>"),
        file=wandb.File(b"payload %d" % (i % 3), ext="txt"),
        video=wandb.Video(str(video), fps=12),
    )
    return row


def _expected(value: Any) -> Any:
    """What a reader gives back for a logged value."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.datetime64 | np.timedelta64):
        return value.astype(object)  # datetime / timedelta
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, tablelog.media.Media):
        return value.to_cell()
    return value


def _log(where: Any, mode: str, rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    half = len(rows) // 2
    with where.init() as run:
        table = tablelog.Table(columns=columns, log_mode=mode)
        for r in rows[:half]:
            table.add_data(*r.values())
        if mode != "IMMUTABLE":
            run.log({"values": table}, step=0)
        for r in rows[half:]:
            table.add_data(*r.values())
        run.log({"values": table}, step=1)
    return f"p/{run.id}/values"


@pytest.mark.parametrize("mode", MODES)
def test_every_value_type_round_trips(where: Any, mode: str, tmp_path: Path) -> None:
    rows = [_row(i, tmp_path) for i in range(8)]
    path = _log(where, mode, rows)
    frame = where.scan(path).collect()
    if "_increment" in frame.columns:
        frame = frame.drop("_increment")
    assert frame.columns == list(rows[0])
    assert frame.height == len(rows)
    got = frame.to_dicts()
    for i, (logged, back) in enumerate(zip(rows, got, strict=True)):
        for name, value in logged.items():
            have = back[name]
            if name == "nested":  # dicts whose keys vary are stored as JSON text
                have = json.loads(have)
            assert have == _expected(value), (i, name, have, value)
    # Media bytes come back identical, from the root and as numpy/text.
    for name in ("image", "audio", "html", "file", "video"):
        datas = tablelog.media.load_many(frame[name], **where.kw())
        assert datas == [r[name].data for r in rows]
    pixels = tablelog.media.load_many(frame["image"], to="numpy", **where.kw())
    for logged, arr in zip(rows, pixels, strict=True):
        assert np.array_equal(arr, logged["image"].to_numpy())
    assert tablelog.media.load(got[0]["html"], to="text", **where.kw()) == rows[0]["html"].html
    schema = {c: str(t) for c, t in frame.schema.items()}
    assert schema["np_float32"] == "Float32" and schema["np_float16"] == "Float16"
    assert schema["array"].startswith("Array(Float32")  # a fixed-size list, shape kept
    assert schema["np_uint64_big"] == "UInt64"
    assert schema["image"].startswith("Struct")
    # Filtering on media fields needs no bytes.
    wide = frame.filter(pl.col("image").struct.field("width") == 8)
    assert wide.height == len(rows)
    report = tablelog.verify(**where.kw(), deep=True)
    assert report.ok, report.problems


def test_pandas_nullable_dtypes_round_trip(where: Any) -> None:
    df = pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="Int64"),
            "u": pd.array([1, 2, None], dtype="UInt8"),
            "f": pd.array([0.5, None, 2.0], dtype="Float64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "s": pd.array(["x", None, "z"], dtype="string"),
            "t": pd.to_datetime(["2024-01-01", None, "2024-01-03"]).tz_localize("UTC"),
        }
    )
    with where.init() as run:
        run.log({"df": tablelog.Table(dataframe=df)})
    back = where.scan(f"p/{run.id}/df").collect()
    assert back["i"].to_list() == [1, None, 3]
    assert back["u"].to_list() == [1, 2, None]
    assert back["f"].to_list() == [0.5, None, 2.0]
    assert back["b"].to_list() == [True, None, False]
    assert back["s"].to_list() == ["x", None, "z"]
    assert back["t"].to_list() == [
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        None,
        dt.datetime(2024, 1, 3, tzinfo=dt.UTC),
    ]


def test_same_image_in_1000_rows_is_stored_once(where: Any) -> None:
    img = _image(1, size=32)
    with where.init() as run:
        table = tablelog.Table(columns=["i", "img"], log_mode="INCREMENTAL")
        for i in range(1000):
            table.add_data(i, img)
            if i % 250 == 249:  # four logs of the same key: still one blob
                run.log({"t": table}, step=i)
    store = _store(where)
    blobs = sorted(store.list("media/"))
    assert blobs == [paths.media_key(img.digest, "png")]
    assert store.get(blobs[0]) == img.data
    frame = where.scan(f"p/{run.id}/t").collect()
    assert frame.height == 1000
    assert frame["img"].struct.field("digest").unique().to_list() == [img.digest]


def _media_table(where: Any) -> tuple[str, list[tablelog.Image]]:
    """An INCREMENTAL table: image 3 at rows 3 and 8 (version 0) and 11 (version 1).

    sync=True: each log is its own version (no group commit), so the versions are exact."""
    images = [_image(i) for i in range(5)]
    with where.init(sync=True) as run:
        t = tablelog.Table(columns=["i", "img", "thumb"], log_mode="INCREMENTAL")
        for i in range(10):
            t.add_data(i, images[i % 5] if i != 9 else None, images[0])
        run.log({"t": t}, step=0)
        for i in range(10, 14):
            t.add_data(i, images[(i - 10) * 3 % 5], None)
        run.log({"t": t}, step=1)
    return f"p/{run.id}/t", images


def test_verify_names_the_cells_of_a_deleted_blob(where: Any) -> None:
    path, images = _media_table(where)
    assert tablelog.verify(**where.kw()).ok
    store = _store(where)
    lost = images[3]
    store.delete(paths.media_key(lost.digest, "png"))
    report = tablelog.verify(**where.kw())
    assert not report.ok
    (problem,) = report.problems
    assert problem.location == store.full_url(paths.media_key(lost.digest, "png"))
    assert "media blob is missing" in problem.message
    cells = [(c.table, c.version, c.column, c.row) for c in problem.cells]
    assert cells == [(path, 0, "img", 3), (path, 0, "img", 8), (path, 1, "img", 11)]
    assert isinstance(problem.cells[0], Cell)
    assert f"{path} version 0 column 'img' row 3" in str(problem)


def test_media_column_added_to_a_mutable_table(where: Any) -> None:
    """add_column of images writes column groups (add_groups) that list their blobs."""
    images = [_image(i) for i in range(6)]
    with where.init() as run:
        t = tablelog.Table(columns=["i"], data=[[0], [1], [2]], log_mode="MUTABLE")
        run.log({"m": t}, step=0)
        t.add_data(3)
        t.add_data(4)
        t.add_data(5)
        run.log({"m": t}, step=1)
        t.add_column("img", images, optional=True)
        run.log({"m": t}, step=2)
    path = f"p/{run.id}/m"
    frame = where.scan(path).collect()
    assert frame["img"].to_list() == [img.to_cell() for img in images]
    loaded = tablelog.media.load_many(frame["img"], to="media", **where.kw())
    assert loaded == images
    _store(where).delete(paths.media_key(images[4].digest, "png"))
    (problem,) = tablelog.verify(**where.kw()).problems
    assert [(c.version, c.column, c.row) for c in problem.cells] == [(2, "img", 4)]


def test_dataframe_with_media_objects(local: Any) -> None:
    images = [_image(i) for i in range(3)]
    df = pd.DataFrame({"i": [0, 1, 2], "img": images})
    with local.init() as run:
        run.log({"df": wandb.Table(dataframe=df)})
    frame = local.scan(f"p/{run.id}/df").collect()
    assert tablelog.media.load_many(frame["img"], **local.kw()) == [i.data for i in images]


def test_gc_keeps_referenced_blobs_and_deletes_orphans(where: Any) -> None:
    _path, images = _media_table(where)
    store = _store(where)
    orphan = tablelog.Image(np.full((4, 4), 9, dtype=np.uint8))
    store.put(paths.media_key(orphan.digest, "png"), orphan.data)
    before = set(store.list("media/"))
    report = tablelog.gc(
        **where.kw(), min_age=dt.timedelta(0), dry_run=False, allow_short_grace=True
    )
    media_garbage = [g.key for g in report.garbage if g.key.startswith("media/")]
    assert media_garbage == [paths.media_key(orphan.digest, "png")]
    assert set(store.list("media/")) == before - {paths.media_key(orphan.digest, "png")}
    assert {paths.media_key(i.digest, "png") for i in images} <= set(store.list("media/"))
    assert tablelog.verify(**where.kw()).ok


def test_compaction_keeps_media_referenced(local: Any) -> None:
    path, images = _media_table(local)
    result = tablelog.compact(path, **local.kw())
    assert result.version == 2
    report = tablelog.gc(**local.kw(), min_age=dt.timedelta(0), dry_run=True)
    assert not [g for g in report.garbage if g.key.startswith("media/")]
    frame = local.scan(path).collect()
    assert tablelog.media.load(frame["img"][4], **local.kw()) == images[4].data


def test_media_in_a_table_in_memory(tmp_path: Path) -> None:
    pixels = np.arange(64 * 64 * 3, dtype=np.uint32).reshape(64, 64, 3).astype(np.uint8)
    t = wandb.Table(columns=["img", "score"])
    t.add_data(wandb.Image(pixels), 0.5)
    t.add_data(wandb.Image(pixels[::-1]), 0.25)
    stacked = t.get_column("img", convert_to="numpy")
    assert stacked.shape == (2, 64, 64, 3) and stacked.dtype == np.uint8
    assert np.array_equal(stacked[1], pixels[::-1])
    scores = t.get_column("score", convert_to="numpy")
    assert scores.dtype == np.float64 and scores.tolist() == [0.5, 0.25]
    assert t.data[0][0] == wandb.Image(pixels)


# ------------------------------------------------------------ no media bytes on scans


@pytest.fixture
def proxied_moto(moto_server: S3Server) -> Iterator[tuple[FaultProxy, str, dict[str, Any]]]:
    name = f"media-{os.getpid()}-{next(_counter)}"
    moto_server.create_bucket(name)
    try:
        with FaultProxy(moto_server.endpoint_url) as proxy:
            opts = proxy.storage_options(moto_server.key, moto_server.secret, moto_server.region)
            yield proxy, f"s3://{name}/pfx", opts
    finally:
        moto_server.delete_bucket(name)


@pytest.mark.s3
@pytest.mark.slow  # 10,000 blob PUTs: loopback moto takes about 100 s (500 unless full scale)
@pytest.mark.timeout(600)
@pytest.mark.scaled
def test_scanning_other_columns_reads_no_media_bytes(
    proxied_moto: tuple[FaultProxy, str, dict[str, Any]],
) -> None:
    proxy, root, opts = proxied_moto
    n = scale.pick(500, 10_000)  # 10,000 PUTs through the proxy take ~1 min
    base = np.zeros((64, 64), dtype=np.uint8)
    base[:, :] = np.arange(64, dtype=np.uint8)[None, :]
    with tablelog.init(project="p", root=root, storage_options=opts) as run:
        t = tablelog.Table(columns=["i", "label", "img"])
        for i in range(n):
            pixels = base.copy()
            pixels[0, 0], pixels[0, 1] = i % 256, i // 256  # every image distinct
            t.add_data(i, f"c{i % 10}", tablelog.Image(pixels))
        run.log({"big": t})
    path = f"p/{run.id}/big"
    media_puts = proxy.where(lambda r: r.method == "PUT" and r.key.startswith("pfx/media/"))
    assert len({r.key for r in media_puts}) == n
    media_reads = proxy.where(lambda r: r.method != "PUT" and r.key.startswith("pfx/media/"))
    assert media_reads == [], "logging read media blobs back"
    proxy.reset()
    lf = tablelog.scan(path, root=root, storage_options=opts)
    labels = lf.select("i", "label").collect()
    widths = lf.select(pl.col("img").struct.field("width")).collect()
    assert labels.height == n and labels["i"].to_list() == list(range(n))
    assert widths.to_series().unique().to_list() == [64]
    reads = proxy.where(lambda r: r.method in ("GET", "HEAD"))
    assert reads, "the scan went through the proxy"
    media_gets = [r for r in reads if r.key.startswith("pfx/media/")]
    assert media_gets == []
    # A single cell's bytes are one GET.
    proxy.reset()
    cell = lf.filter(pl.col("i") == n - 79).collect()["img"][0]
    pixels = tablelog.media.load(cell, root=root, storage_options=opts, to="numpy")
    assert pixels.shape == (64, 64)
    got = proxy.where(lambda r: r.key.startswith("pfx/media/"))
    assert [r.method for r in got] == ["GET"]


@pytest.mark.s3
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_media_logged_during_an_outage_is_spooled_with_its_blobs(
    proxied_moto: tuple[FaultProxy, str, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, root, opts = proxied_moto
    # One attempt per request: botocore's default retries (5, with backoff) would keep
    # each request to the downed store going for seconds past retry_for.
    opts = {**opts, "config_kwargs": {"retries": {"max_attempts": 1}}}
    spool = tmp_path / "spool"
    monkeypatch.setenv("TABLELOG_SPOOL", str(spool))
    run = tablelog.init(project="p", id="off", root=root, storage_options=opts, retry_for=0.2)
    t = tablelog.Table(columns=["i", "img"], log_mode="INCREMENTAL")
    t.add_data(0, _image(0))
    run.log({"t": t}, step=0)
    run.flush()
    proxy.inject_error(lambda r: True, rate=1.0, status=503, code="ServiceUnavailable")
    images = [_image(i) for i in range(1, 6)]
    for i, img in enumerate(images, 1):
        t.add_data(i, img)
        run.log({"t": t}, step=i)
    run.finish()  # still down: the logs and their blobs stay in the spool
    assert len(list(spool.rglob("*.png"))) == 5
    proxy.clear_rules()
    assert tablelog.sync(spool, storage_options=opts) == (5, 0)
    assert not list(spool.rglob("*.png"))
    frame = tablelog.scan("p/off/t", root=root, storage_options=opts).collect()
    datas = tablelog.media.load_many(frame["img"], root=root, storage_options=opts)
    assert datas == [_image(0).data] + [img.data for img in images]
    assert tablelog.verify(root=root, storage_options=opts).ok


def test_a_scanned_table_logged_again_keeps_its_media(where: Any) -> None:
    path, images = _media_table(where)
    frame = where.scan(path).collect().drop("_increment")
    subset = frame.filter(frame["i"] % 2 == 0)
    with where.init() as run:
        run.log({"subset": tablelog.Table(dataframe=subset)})
    copy = f"p/{run.id}/subset"
    back = where.scan(copy).collect()
    assert back["img"].to_list() == subset["img"].to_list()
    assert where.history(copy)["rows"].to_list() == [subset.height]
    store = _store(where)
    lost = paths.media_key(images[2].digest, "png")
    store.delete(lost)
    (problem,) = tablelog.verify(**where.kw()).problems
    assert problem.location == store.full_url(lost)
    # rows 2 and 7 of the original; row 1 of the copy (its even rows 0, 2, 4, ...)
    assert {(c.table, c.row) for c in problem.cells} == {(path, 2), (path, 7), (copy, 1)}
    run = where.init()
    with pytest.raises(tablelog.RunError, match="neither in this table"):
        run.log({"again": tablelog.Table(dataframe=subset)})
        run.flush()
    with pytest.raises(tablelog.RunError, match="neither in this table"):
        run.finish()
    with pytest.raises(tablelog.NotFoundError):
        where.scan(f"p/{run.id}/again")


@pytest.mark.parametrize(
    "digest, ext",
    [
        ("AB" * 32, "png"),  # not lowercase hex
        ("../../../../etc/", "passwd"),  # a path, not a digest
        ("ab" * 32, "png/../../x"),  # an extension with a path in it
        ("ab" * 32, "txt\n"),  # a trailing newline
    ],
)
def test_hostile_media_cells_are_refused_before_any_read_or_write(
    local: Any, digest: str, ext: str
) -> None:
    path, _ = _media_table(local)
    frame = local.scan(path).collect().drop("_increment")
    bad = frame.with_columns(
        pl.col("img").struct.with_fields(pl.lit(digest).alias("digest"), pl.lit(ext).alias("ext"))
    )
    root = Path(local.root)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    # Reading: media.load refuses the cell instead of opening a path outside media/.
    with pytest.raises(tablelog.InvalidNameError, match="not a media blob name"):
        tablelog.media.load(bad["img"][0], **local.kw())
    # Writing: the log is refused in the caller; nothing reaches the store.
    run = local.init(id="hostile", sync=True)
    with pytest.raises(tablelog.InvalidNameError, match="not a media blob name"):
        run.log({"t": tablelog.Table(dataframe=bad)})
    run.finish()
    # Only the run's own run.json (init) is new.
    after = sorted(
        q for q in (p.relative_to(root) for p in root.rglob("*")) if "hostile" not in str(q)
    )
    assert after == before
    assert tablelog.verify(**local.kw()).ok


def test_file_extension_with_a_newline_is_refused() -> None:
    with pytest.raises(tablelog.ColumnTypeError, match="extension"):
        tablelog.File(b"abc", ext="txt\n")
