"""W&B's own Table and data-type tests, their behaviour rewritten for tablelog (#17).

Each test names the W&B test it ports (wandb/wandb: tests/unit_tests/
test_data_types.py, test_dtypes.py and test_tables.py, the table logging-mode tests).
Where W&B checks its own serialisation (artifact JSON, ``_to_table_json``), the port
logs the table with ``import tablelog as wandb`` and reads it back through
tablelog's readers instead. Deliberate differences are in docs/wandb.md and tested as such here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

import tablelog
import tablelog as wandb
from tablelog import media


@pytest.fixture(autouse=True)
def _no_current_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TABLELOG_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("TABLELOG_SPOOL", str(tmp_path / "spool"))
    yield
    wandb.finish()


def _read(key: str, value: Any) -> pl.DataFrame:
    """Log ``value`` under ``key`` in a new run and read the table back."""
    with wandb.init(project="parity") as run:
        run.log({key: value})
    return tablelog.scan(f"parity/{run.id}/{key}").collect()


@pytest.fixture
def table_data() -> list[list[Any]]:
    return [["a", 1, True], ["b", 2, False], ["c", 3, True]]


# ---------------------------------------------------------------- test_data_types.py


def test_table_default() -> None:
    table = wandb.Table()
    table.add_data("Some awesome text", "Positive", "Negative")
    df = _read("t", table)
    assert df.columns == ["Input", "Output", "Expected"]
    assert df.rows() == [("Some awesome text", "Positive", "Negative")]


@pytest.mark.parametrize(
    "other",
    [
        {},  # not a table
        wandb.Table(data=[[1, 2, 3]]),  # rows differ
        wandb.Table(data=[[1, 2, 3], [4, 5, 6]], columns=["a", "b", "c"]),  # columns differ
        wandb.Table(data=[["1", "2", "3"], ["4", "5", "6"]]),  # types differ
        wandb.Table(data=[[1, 2, 3], [4, 5, 100]]),  # data differ
    ],
)
def test_table_eq_debug_mismatch(other: Any) -> None:
    assert wandb.Table(data=[[1, 2, 3], [4, 5, 6]]) != other


def test_table_eq_debug_match() -> None:
    a = wandb.Table(data=[[1, 2, 3], [4, 5, 6]])
    assert a == wandb.Table(data=[[1, 2, 3], [4, 5, 6]])


def test_table_custom() -> None:
    table = wandb.Table(["Foo", "Bar"])
    table.add_data("So", "Cool")
    table.add_row("&", "Rad")
    df = pd.DataFrame(columns=["Foo", "Bar"], data=[["So", "Cool"], ["&", "Rad"]])
    from_df = wandb.Table(dataframe=df)
    assert table == from_df
    assert _read("t", table).equals(_read("t", from_df))
    assert _read("t", table).rows() == [("So", "Cool"), ("&", "Rad")]


def test_table_init() -> None:
    table = wandb.Table(data=[["Some awesome text", "Positive", "Negative"]])
    assert table.columns == ["Input", "Output", "Expected"]


def test_table_from_list(table_data: list[list[Any]]) -> None:
    table = wandb.Table(data=table_data)
    assert table.data == table_data
    assert [list(r) for r in _read("t", table).rows()] == table_data
    with pytest.raises(wandb.Error):  # rows passed where the column names go
        wandb.Table(table_data)
    with pytest.raises(wandb.Error):  # a list is not a DataFrame
        wandb.Table(dataframe=table_data)
    assert wandb.Table(rows=table_data).data == table_data  # legacy name


def test_table_iterator(table_data: list[list[Any]]) -> None:
    table = wandb.Table(columns=["s", "n", "b"], data=table_data)
    assert [(i, row) for i, row in table.iterrows()] == list(enumerate(table_data))
    assert list(wandb.Table(columns=["a"], data=[]).iterrows()) == []


def test_table_from_numpy(table_data: list[list[Any]]) -> None:
    np_data = np.array(table_data)
    table = wandb.Table(columns=["a", "b", "c"], data=np_data)
    assert table.data == np_data.tolist()
    assert [list(r) for r in _read("t", table).rows()] == np_data.tolist()
    with pytest.raises(wandb.Error):
        wandb.Table(dataframe=np_data)


def test_table_from_pandas(table_data: list[list[Any]]) -> None:
    pd_data = pd.DataFrame(table_data)
    assert wandb.Table(data=pd_data).data == table_data  # data= means dataframe=
    assert wandb.Table(dataframe=pd_data.rename(columns=str)).data == table_data


def test_table_column_style() -> None:
    table1 = wandb.Table(columns=[], data=[])
    table1.add_column("number", [1, 2, 3])
    table1.add_data(4)
    with pytest.raises(wandb.Error):
        table1.add_column("strings", ["a"])
    table1.add_column("strings", ["a", "b", "c", "d"])
    table1.add_data(5, "e")
    table1.add_column("np_numbers", np.array([101, 102, 103, 104, 105]))
    expected = [[1, "a", 101], [2, "b", 102], [3, "c", 103], [4, "d", 104], [5, "e", 105]]
    assert table1.data == expected
    assert table1.get_column("strings") == ["a", "b", "c", "d", "e"]
    assert table1.get_index() == [0, 1, 2, 3, 4]
    assert [list(r) for r in _read("t", table1).rows()] == expected


def test_table_column_style_images_and_arrays() -> None:
    # (the second half of W&B's test_table_column_style, on a table with rows)
    rng = np.random.default_rng(0)
    rand = [rng.integers(0, 255, size=(8, 8)).astype(np.uint8) for _ in range(3)]
    imgs = [wandb.Image(r) for r in rand]
    table = wandb.Table(columns=["np_data", "image"], data=[[rand[0], imgs[0]]])
    table.add_data(rand[1], imgs[1])
    table.add_data(rand[2], imgs[2])
    assert table.get_column("image") == imgs
    assert np.array_equal(table.get_column("np_data", convert_to="numpy"), np.array(rand))
    df = _read("t", table)
    assert media.load_many(df["image"].to_list(), to="media") == imgs
    assert np.array_equal(np.array(df["np_data"].to_list()), np.array(rand))


def test_table_get_index() -> None:
    table = wandb.Table(columns=["a"], data=[[1], [2], [3]])
    assert table.get_index() == [0, 1, 2]


def test_ndarrays_in_tables() -> None:
    d, c = 16, 3
    rng = np.random.default_rng(0)
    table = wandb.Table(columns=["ndarray"])
    for _ in range(4):
        table.add_data(rng.integers(0, 255, size=(d, d, c)))
    table.add_data(rng.integers(0, 255, size=(d, d, c)).tolist())
    with pytest.raises(TypeError):
        table.add_data(rng.integers(0, 255, size=(d + 1, d, c)))
    df = _read("t", table)
    first = df["ndarray"][0]
    cell = json.loads(first) if isinstance(first, str) else first.to_list()  # JSON if mixed
    assert df.height == 5 and np.array(cell).shape == (d, d, c)


def test_ndarrays_in_tables_from_5d_data() -> None:
    data = np.random.default_rng(0).integers(0, 255, size=(10, 1, 4, 4, 3))
    table = wandb.Table(columns=["ndarray"], data=data)
    assert table.num_rows == 10
    assert np.array_equal(np.asarray(table.data[0][0]), data[0, 0])


def test_log_dataframe() -> None:
    frame = pd.DataFrame(data={"test_col": [1, 2, 3], "test_col2": [4, 5, 6]})
    assert _read("results_df", frame).to_dicts() == frame.to_dict("records")
    polars_frame = pl.DataFrame({"x": ["a", "b"]})
    assert _read("pl_df", polars_frame).equals(polars_frame)


def test_table_logging_mode_validation() -> None:
    with pytest.raises(wandb.Error):
        wandb.Table(log_mode="INVALID_MODE")


def test_table_logging_mode_immutable_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    # W&B: a re-log of a logged IMMUTABLE table logs nothing new, with a warning.
    # Difference (docs/wandb.md): mutating it raises instead of being silently lost.
    t = wandb.Table(columns=["a"], data=[[1]], log_mode="IMMUTABLE")
    with wandb.init(project="parity") as run:
        run.log({"table": t})
        with pytest.raises(wandb.Error, match="IMMUTABLE"):
            t.add_data(2)
        with caplog.at_level(logging.WARNING, logger="tablelog"):
            run.log({"table": t})
        assert "already logged" in caplog.text
    assert len(tablelog.history(f"parity/{run.id}/table")) == 1
    assert tablelog.scan(f"parity/{run.id}/table").collect()["a"].to_list() == [1]


def test_table_logging_mode_mutable_relogs_after_mutation() -> None:
    t = wandb.Table(columns=["a"], data=[[1]], log_mode="MUTABLE")
    with wandb.init(project="parity") as run:
        run.log({"table": t})
        t.add_data(2)
        run.log({"table": t})
    path = f"parity/{run.id}/table"
    assert tablelog.scan(path, version=0).collect()["a"].to_list() == [1]
    assert tablelog.scan(path, version=1).collect()["a"].to_list() == [1, 2]


def test_table_logging_mode_incremental_relogs_after_mutation() -> None:
    t = wandb.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    with wandb.init(project="parity") as run:
        run.log({"table": t})
        t.add_data(2)
        run.log({"table": t})
    path = f"parity/{run.id}/table"
    assert tablelog.scan(path, increment=0).collect()["a"].to_list() == [1]
    assert tablelog.scan(path, increment=1).collect()["a"].to_list() == [2]
    assert tablelog.scan(path).collect()["a"].to_list() == [1, 2]


def test_table_logging_mode_incremental_operations() -> None:
    t = wandb.Table(columns=["a", "b"], log_mode="INCREMENTAL")
    with pytest.raises(wandb.Error, match="INCREMENTAL"):
        t.add_column("c", [1, 2])
    with pytest.raises(wandb.Error, match="Operation 'add_computed_columns' is not supported"):
        t.add_computed_columns(lambda ndx, row: {"c": row["a"] + 1})


def test_table_logging_mode_incremental_past_100_increments() -> None:
    # W&B warns that only its UI's last 100 increments are shown; every one is kept here.
    t = wandb.Table(columns=["a"], data=[[0]], log_mode="INCREMENTAL")
    with wandb.init(project="parity") as run:
        run.log({"table": t})
        for i in range(1, 101):
            t.add_data(i)
            run.log({"table": t})
    assert tablelog.scan(f"parity/{run.id}/table").collect()["a"].to_list() == list(range(101))


def test_add_computed_columns() -> None:
    t = wandb.Table(columns=["a"], data=[[1], [2]], log_mode="MUTABLE")
    t.add_computed_columns(lambda ndx, row: {"b": row["a"] * 10, "i": ndx})
    assert t.columns == ["a", "b", "i"] and t.data == [[1, 10, 0], [2, 20, 1]]
    assert _read("t", t).rows() == [(1, 10, 0), (2, 20, 1)]


def test_datetime_conversion() -> None:
    # W&B stores these as epoch milliseconds; here they stay datetimes and dates.
    data = [
        [dt.datetime(2000, 12, d), dt.date(2000, 12, d), np.datetime64(f"2000-12-0{d}"), d]
        for d in (1, 2)
    ]
    df = _read("t", wandb.Table(columns=["dt", "t", "np", "d"], data=data))
    assert df.rows() == [
        (dt.datetime(2000, 12, d), dt.date(2000, 12, d), dt.date(2000, 12, d), d) for d in (1, 2)
    ]


# -------------------------------------------------------------------- test_dtypes.py


def test_table_column_types() -> None:
    good = [[1], [None], [2]]
    bad = [[1], ["a"]]
    wandb.Table(columns=["A"], data=bad, allow_mixed_types=True)
    assert _read("t", wandb.Table(columns=["A"], data=good))["A"].to_list() == [1, None, 2]
    with pytest.raises(TypeError):
        wandb.Table(columns=["A"], data=bad)
    mixed = _read("m", wandb.Table(columns=["A"], data=bad, allow_mixed_types=True))
    assert mixed.height == 2  # stored (as JSON text), not dropped


def test_table_explicit_types() -> None:
    table = wandb.Table(columns=["a", "b"], dtype=int)
    table.add_data(None, None)
    table.add_data(1, 2)
    with pytest.raises(TypeError):
        table.add_data(1, "a")
    table = wandb.Table(columns=["a", "b"], optional=False, dtype=[int, str])
    with pytest.raises(TypeError):
        table.add_data(None, None)
    table.add_data(1, "a")
    with pytest.raises(TypeError):
        table.add_data("a", "a")


def test_none_in_a_non_optional_column_is_a_type_error() -> None:
    table = wandb.Table(columns=["a"], optional=False)
    with pytest.raises(TypeError):
        table.add_data(None)


def test_table_type_cast() -> None:
    table = wandb.Table(columns=["type_col"])
    table.add_data(1)
    table.cast("type_col", int)
    table.add_data(2)
    with pytest.raises(TypeError):
        table.add_data("4")
    with pytest.raises(wandb.Error):
        table.add_data(None)  # cast(optional=False), as in W&B (a TypeError)
    with pytest.raises(TypeError):
        table.cast("type_col", str)
    table.cast("type_col", int, optional=True)
    table.add_data(None)
    assert _read("t", table)["type_col"].to_list() == [1, 2, None]


def test_nan_non_float() -> None:
    frame = pd.DataFrame(data=[["A"], [np.nan]], columns=["a"])
    assert _read("t", wandb.Table(dataframe=frame))["a"].to_list() == ["A", None]


def test_table_typing_numpy() -> None:
    table = wandb.Table(columns=["A"])
    values = [None, 42, np.byte(1), np.short(42), np.ushort(42), np.intc(42), np.uintc(42)]
    values += [np.int_(42), np.uint(42), np.longlong(42), np.ulonglong(42), np.half(42)]
    values += [np.single(42), np.double(42), np.longdouble(42), np.int8(42), np.uint64(42)]
    values += [np.csingle(42), np.cdouble(42)]
    for v in values:
        table.add_data(v)
    assert _read("t", table).height == len(values)
    bools = wandb.Table(columns=["A"])
    for v in (None, True, False, np.bool_(True)):
        bools.add_data(v)
    assert _read("b", bools)["A"].to_list() == [None, True, False, True]
    nested = wandb.Table(columns=["A"])
    nested.add_data([[[[1, 2, 3]]]])
    nested.add_data(np.array([[[[1, 2, 3]]]]))
    assert _read("n", nested).height == 2


def test_table_typing_pandas() -> None:
    dtypes: list[Any] = [np.byte, np.short, np.ushort, np.intc, np.uintc, np.int_, np.uint]
    dtypes += [np.longlong, np.ulonglong, np.half, np.single, np.double, np.int8, np.int16]
    dtypes += [np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.float32]
    dtypes += ["Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"]
    for dtype in dtypes:
        table = wandb.Table(dataframe=pd.DataFrame({"v": [42, 42]}).astype(dtype))
        table.add_data(42)
        assert _read("t", table)["v"].to_list() == [42, 42, 42], dtype
    table = wandb.Table(dataframe=pd.DataFrame({"v": ["42", "42"]}).astype("string"))
    table.add_data("42")
    assert _read("s", table)["v"].to_list() == ["42"] * 3
    table = wandb.Table(dataframe=pd.DataFrame({"v": [True, False]}).astype("boolean"))
    table.add_data(True)
    assert _read("b", table)["v"].to_list() == [True, False, True]


# ------------------------------------------------- test_data_types.py: media values


def test_image_accepts_other_images() -> None:
    image_a = wandb.Image(np.random.default_rng(0).random((30, 30, 3)))
    assert wandb.Image(image_a) == image_a


def test_guess_mode() -> None:
    image = np.random.default_rng(0).integers(0, 255, size=(28, 28, 3))
    assert wandb.Image(image).image.mode == "RGB"


def test_pil() -> None:
    pil = pytest.importorskip("PIL.Image").new("L", (28, 28))
    img = wandb.Image(pil)
    assert np.array_equal(np.asarray(img.image), np.asarray(pil))


def test_image_from_floats_rescaled_as_wandb() -> None:
    # [0, 1] -> x255; [-1, 1] -> -1..1 onto 0..255; others clipped
    assert wandb.Image(np.array([[0.0, 0.5, 1.0]])).to_numpy().tolist() == [[0, 127, 255]]
    assert wandb.Image(np.array([[-1.0, 0.0, 1.0]])).to_numpy().tolist() == [[0, 127, 255]]
    assert wandb.Image(np.array([[-5.0, 300.0]])).to_numpy().tolist() == [[0, 255]]
    img = wandb.Image(np.full((4, 4), -0.5))
    df = _read("img", wandb.Table(columns=["i"], data=[[img]]))
    assert media.load(df["i"][0], to="numpy").tolist() == [[63] * 4] * 4


@pytest.mark.parametrize("file_type", ["jpeg", "jpg"])
def test_init_image_jpeg_removes_transparency(
    file_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("PIL")
    with caplog.at_level(logging.WARNING):
        img = wandb.Image(np.random.default_rng(0).random((2, 2, 4)) * 255, file_type=file_type)
    assert "JPEG format does not support transparency" in caplog.text
    assert img.ext == "jpg" and img.mode == "RGB"


def test_matplotlib_image() -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    plt.plot([1, 2, 2, 4])
    img = wandb.Image(plt)
    plt.close("all")
    assert img.image.width == 640
    df = _read("plot", wandb.Table(columns=["p"], data=[[img]]))
    assert media.load(df["p"][0], to="media") == img


def test_matplotlib_image_with_multiple_axes() -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    for n in (1, 2, 3):
        fig, _ = plt.subplots(n)
        assert wandb.Image(fig).width == 640
        assert wandb.Image(plt).width == 640
        plt.close("all")


def test_image_from_matplotlib_with_image() -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    fig, ax = plt.subplots(3)
    ax[0].plot([1, 2, 3])
    ax[1].imshow(np.random.default_rng(0).random((20, 20, 3)))
    assert wandb.Image(fig).height == 480
    assert wandb.Image(plt).height == 480
    plt.close("all")


@pytest.mark.parametrize("file_type", ["jpeg", "jpg", "png"])
def test_wandb_image_with_matplotlib_figure(file_type: str) -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    fig = plt.figure()
    img = wandb.Image(fig, file_type=file_type)
    plt.close("all")
    assert img.ext == ("png" if file_type == "png" else "jpg")


def test_audio_sample_rates() -> None:
    audio = np.random.default_rng(0).uniform(-1, 1, 4410)
    assert wandb.Audio(audio, sample_rate=44100).sample_rate == 44100
    with pytest.raises(ValueError):
        wandb.Audio(audio)


@pytest.mark.parametrize("fmt", ["gif", "mp4"])
def test_video_numpy(fmt: str) -> None:
    if fmt == "mp4":
        pytest.importorskip("av")
    video = np.random.default_rng(0).integers(0, 255, size=(10, 3, 28, 28)).astype(np.uint8)
    vid = wandb.Video(video, format=fmt)
    assert vid.ext == fmt and (vid.width, vid.height) == (28, 28)
    df = _read("v", wandb.Table(columns=["v"], data=[[vid]]))
    assert media.load(df["v"][0]) == vid.data


def test_video_numpy_multi() -> None:
    vid = wandb.Video(np.random.default_rng(0).random(size=(2, 10, 3, 28, 28)))
    assert vid.ext == "gif" and (vid.width, vid.height) == (56, 28)


def test_video_numpy_invalid() -> None:
    with pytest.raises(ValueError):
        wandb.Video(np.random.default_rng(0).random(size=(3, 28, 28)))


def test_video_path(tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    path.write_bytes(b"00000")
    assert wandb.Video(str(path)).ext == "mp4"
    bad = tmp_path / "video.avi"
    bad.write_bytes(b"00000")
    with pytest.raises(ValueError):
        wandb.Video(str(bad))


def test_html_str_file_and_path(tmp_path: Path) -> None:
    html_str = "<html><body><h1>Hello</h1></body></html>"
    assert wandb.Html(html_str) == wandb.Html(html_str)
    page = tmp_path / "test.html"
    page.write_text(html_str)
    with open(page) as f:
        assert wandb.Html(f).html == html_str
    assert wandb.Html(str(page)).html == html_str
    assert wandb.Html(page).html == html_str  # a pathlib.Path
    assert wandb.Html(str(page), data_is_not_path=True).html == str(page)
    df = _read("h", wandb.Table(columns=["h"], data=[[wandb.Html(page)]]))
    assert media.load(df["h"][0], to="text") == html_str


# ------------------------------------------------ module-level API and run.log values


def test_module_level_api_before_init() -> None:
    assert wandb.run is None
    with pytest.raises(wandb.Error, match=r"You must call tablelog.init\(\) before tablelog.log"):
        wandb.log({"a": 1})
    with pytest.raises(wandb.Error, match=r"before tablelog\.config\.lr"):
        _ = wandb.config.lr
    with pytest.raises(wandb.Error, match=r"before tablelog\.summary"):
        wandb.summary["x"] = 1
    with pytest.raises(wandb.Error, match="define_metric"):
        wandb.define_metric("loss", summary="min")
    wandb.finish()  # nothing to finish: a no-op, as in W&B


def test_every_error_is_a_wandb_error() -> None:
    for name in dir(tablelog.errors):
        obj = getattr(tablelog.errors, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Exception)
            and obj.__module__.startswith("tablelog")
        ):
            assert issubclass(obj, wandb.Error), name


def test_init_takes_wandb_keywords_and_refuses_typos() -> None:
    run = wandb.init(
        project="parity",
        entity="team",
        dir="/nowhere",
        tags=["a", "b"],
        notes="n",
        group="g",
        job_type="eval",
        reinit=True,
        save_code=True,
        settings={"x": 1},
        anonymous="never",
    )
    assert wandb.run is run and run.tags == ("a", "b")
    wandb.finish()
    assert wandb.run is None
    with pytest.raises(TypeError):
        wandb.init(project="parity", tagz=["a"])


def test_config_and_summary_read_back() -> None:
    with wandb.init(project="parity", config={"lr": 0.1, "opt": {"beta": 0.9}}) as run:
        wandb.config.epochs = 2
        wandb.config["bs"] = 8
        wandb.config.update({"layers": [1, 2]})
        assert (wandb.config.lr, run.config["opt"]["beta"]) == (0.1, 0.9)
        with pytest.raises(wandb.Error, match="allow_val_change"):
            wandb.config.lr = 0.2
        wandb.config.update({"lr": 0.2}, allow_val_change=True)
        for i in range(3):
            wandb.log({"loss": 3.0 - i, "acc": float(i)})
        wandb.summary["acc"] = 10.0  # explicit assignment wins over the last logged value
        wandb.log({"acc": 99.0})
        assert run.summary["loss"] == 1.0 and run.summary["acc"] == 10.0
    runs = tablelog.runs("parity")
    row = runs.filter(pl.col("run_id") == run.id).row(0, named=True)
    assert row["config.lr"] == 0.2 and row["config.opt.beta"] == 0.9
    assert row["config.layers"] == [1, 2] and row["config.epochs"] == 2
    assert row["summary.loss"] == 1.0 and row["summary.acc"] == 10.0


def test_runs_filter_by_hyper_parameters() -> None:
    for lr in (0.1, 0.01, 0.001):
        with wandb.init(project="sweep", config={"lr": lr}):
            wandb.log({"loss": lr * 10})
    runs = tablelog.runs("sweep")
    small = runs.filter(pl.col("config.lr") < 0.05).sort("config.lr")
    assert small["summary.loss"].to_list() == pytest.approx([0.01, 0.1])


def test_commit_false_accumulates_one_step() -> None:
    with wandb.init(project="parity") as run:
        wandb.log({"a": 1}, commit=False)
        wandb.log({"b": 2}, commit=False)
        wandb.log({"c": 3})
        wandb.log({"a": 4})
        wandb.log({"a": 5}, step=7, commit=False)
        wandb.log({"b": 6}, step=8)  # a larger step writes step 7 first
    hist = tablelog.scan(f"parity/{run.id}/_history").collect().sort("_step")
    assert hist.select("_step", "a", "b", "c").rows() == [
        (0, 1, 2, 3),
        (1, 4, None, None),
        (7, 5, None, None),
        (8, None, 6, None),
    ]


def test_media_in_history_read_back_as_media() -> None:
    img = wandb.Image(np.zeros((4, 4, 3), dtype=np.uint8), caption="c")
    imgs = [wandb.Image(np.full((2, 2), i, dtype=np.uint8)) for i in range(3)]
    with wandb.init(project="parity") as run:
        wandb.log({"img": img, "imgs": imgs, "html": wandb.Html("<b>x</b>")})
    hist = tablelog.scan(f"parity/{run.id}/_history").collect()
    assert media.load(hist["img"][0], to="media") == img
    assert media.load_many(hist["imgs"][0].to_list(), to="media") == imgs
    assert media.load(hist["html"][0], to="text") == "<b>x</b>"
    report = tablelog.verify(deep=True)  # the manifests list every blob, listed ones too
    assert report.ok and report.unreferenced == 0


def test_unstorable_values_are_refused_at_log() -> None:
    class Thing:
        pass

    with wandb.init(project="parity") as run:
        with pytest.raises(wandb.Error, match="cannot log 'x'"):
            wandb.log({"x": Thing()})
        with pytest.raises(wandb.Error, match="media"):
            wandb.log({"d": {"inner": wandb.Image(np.zeros((2, 2)))}})
        with pytest.raises(wandb.Error, match="mixes media"):
            wandb.log({"l": [wandb.Image(np.zeros((2, 2))), 3]})
        wandb.log({"ok": 1})
        with pytest.raises(wandb.Error, match="keeps one type"):
            wandb.log({"ok": "text"})  # refused now, not failing later in the background
        wandb.log({"img": wandb.Image(np.zeros((2, 2)))})
        with pytest.raises(wandb.Error, match="media cell"):
            wandb.log({"img": 3})
        wandb.log({"ok": 2.5})  # numbers mix
    hist = tablelog.scan(f"parity/{run.id}/_history").collect().sort("_step")
    assert hist.columns == ["_step", "_time", "ok", "img"]  # nothing of the refused logs
    assert hist["ok"].to_list() == [1.0, None, 2.5]


def test_disabled_mode_writes_nothing(tmp_path: Path) -> None:
    run = wandb.init(project="parity", mode="disabled")
    assert wandb.run is run
    wandb.log({"a": 1, "t": wandb.Table(columns=["a"], data=[[1]])})
    wandb.config.x = 1
    wandb.summary["y"] = 2
    wandb.define_metric("a", summary="max")
    wandb.finish()
    assert wandb.run is None
    assert not (tmp_path / "root").exists() and not (tmp_path / "spool").exists()


def test_offline_mode_spools_until_sync(tmp_path: Path) -> None:
    with wandb.init(project="offline", mode="offline", config={"k": 1}) as run:
        wandb.log({"a": 1})
        wandb.log({"t": wandb.Table(columns=["x"], data=[[1], [2]])})
    assert not (tmp_path / "root").exists()  # nothing reached the store
    assert tablelog.sync() == (2, 0)
    assert tablelog.scan(f"offline/{run.id}/t").collect()["x"].to_list() == [1, 2]
    row = tablelog.runs("offline").row(0, named=True)
    assert (row["run_id"], row["status"], row["config.k"]) == (run.id, "finished", 1)
    assert tablelog.sync() == (0, 0)


# ------------------------------------------- the differences of docs/wandb.md, as such


def test_difference_init_while_a_run_is_current() -> None:
    first = wandb.init(project="parity")
    second = wandb.init(project="parity")  # a new run, current; the first stays open
    assert wandb.run is second and second.id != first.id
    first.log({"a": 1})
    assert wandb.init(project="parity", reinit="return_previous") is second
    third = wandb.init(project="parity", reinit="finish_previous")
    assert wandb.run is third and second._finished
    other = wandb.init(project="parity", reinit="create_new")
    assert wandb.run is third and other is not third  # create_new does not switch
    for run in (first, other, third):
        run.finish()
    assert wandb.run is None


def test_difference_explicit_step_writes_at_once() -> None:
    with wandb.init(project="parity") as run:
        wandb.log({"a": 1}, step=3)
        run.flush()
        assert tablelog.scan(f"parity/{run.id}/_history").collect()["a"].to_list() == [1]


def test_difference_nested_table_and_html_as_given() -> None:
    with pytest.raises(TypeError, match="Table"):
        wandb.Table(columns=["t"]).add_data(wandb.Table(columns=["a"], data=[[1]]))
    assert wandb.Html("<h1>Hello</h1>").html == "<h1>Hello</h1>"
    assert not hasattr(wandb, "Histogram")


def test_login_and_settings_as_in_wandb(tmp_path: Path) -> None:
    assert wandb.login(key="not-needed") is True
    run = wandb.init(project="parity", settings=wandb.Settings(mode="disabled", silent=True))
    assert run.disabled and wandb.run is run
    wandb.finish()
    assert not (tmp_path / "root").exists()
