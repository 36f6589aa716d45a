"""Media values and array columns without any store: encoders, cells, shapes, errors."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import pyarrow.parquet as pq
import pytest

import tablelog
import tablelog as wandb
from tablelog.data.parquet import encode_parquet
from tablelog.errors import ColumnTypeError, FormatError
from tablelog.format.manifest import parse_group
from tablelog.media import MEDIA_TYPE, codecs, media_blob_names

RNG = np.random.default_rng(7)


@pytest.fixture
def no_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if Pillow were not installed (``import PIL.Image`` fails)."""
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4), (1, 1, 3)])
def test_stdlib_png_round_trips_and_pillow_reads_it(shape: tuple[int, ...]) -> None:
    pixels = RNG.integers(0, 256, size=shape, dtype=np.uint8)
    data = codecs.encode_png(pixels)
    assert np.array_equal(codecs.decode_png(data), pixels)
    assert np.array_equal(np.asarray(PIL.Image.open(io.BytesIO(data))), pixels)
    w, h, _mode = codecs.png_size(data) or (0, 0, "")
    assert (w, h) == (shape[1], shape[0])


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA"])
def test_stdlib_png_decoder_reads_pillow_pngs_with_every_filter(mode: str) -> None:
    # Pillow picks adaptive filters (Sub, Up, Average, Paeth) on varied content.
    channels = len(mode)
    pixels = RNG.integers(0, 256, size=(9, 11, channels), dtype=np.uint8)
    pixels[:, :5] = np.arange(5, dtype=np.uint8)[None, :, None] * 20  # smooth part
    img = PIL.Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode=mode)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    expected = np.asarray(img)
    assert np.array_equal(codecs.decode_png(buf.getvalue()), expected)


def test_images_encode_without_pillow(no_pillow: None) -> None:
    pixels = RNG.integers(0, 256, size=(6, 4, 3), dtype=np.uint8)
    img = wandb.Image(pixels, caption="no pillow")
    assert (img.width, img.height, img.mode, img.ext) == (4, 6, "RGB", "png")
    assert np.array_equal(img.to_numpy(), pixels)
    with pytest.raises(ColumnTypeError, match=r"tablelog\[media\]"):
        wandb.Image(pixels, file_type="jpg")
    with pytest.raises(ColumnTypeError, match=r"tablelog\[media\]"):
        img.to_pil()


def test_image_inputs_and_normalisation(tmp_path: Path) -> None:
    floats = np.linspace(0, 1, 12).reshape(3, 4)
    img = wandb.Image(floats)
    assert img.to_numpy().tolist()[0][0] == 0 and img.to_numpy().max() == 255
    chw = np.zeros((3, 5, 6), dtype=np.uint8)
    assert wandb.Image(chw).to_numpy().shape == (5, 6, 3)  # torch layout to HWC
    assert wandb.Image(np.ones((2, 2), dtype=bool)).to_numpy().tolist() == [[255, 255]] * 2
    pil = PIL.Image.fromarray(np.full((3, 3, 3), 9, dtype=np.uint8))
    from_pil = wandb.Image(pil, caption="pil")
    assert (from_pil.width, from_pil.mode, from_pil.caption) == (3, "RGB", "pil")
    path = tmp_path / "pic.png"
    pil.save(path)
    from_file = wandb.Image(str(path))
    assert from_file.data == path.read_bytes() and from_file.name == "pic.png"
    assert from_file.width == 3
    # As W&B: values outside 0..255 are clipped (with a warning), not refused.
    assert wandb.Image(np.full((2, 2), 300)).to_numpy().tolist() == [[255, 255]] * 2
    jpg = wandb.Image(np.zeros((4, 4, 3), dtype=np.uint8), file_type="jpeg")
    assert jpg.ext == "jpg" and jpg.mime == "image/jpeg"
    for bad, message in [
        (np.zeros((2, 2, 2)), "must be"),
        (np.array([[np.nan]]), "NaN"),
        (np.array([["a"]]), "numeric"),
    ]:
        with pytest.raises(ColumnTypeError, match=message):
            wandb.Image(bad)


def test_boxes_and_masks_are_plain_data_and_blobs() -> None:
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[1:3, 1:3] = 2
    img = wandb.Image(
        np.zeros((4, 4, 3), dtype=np.uint8),
        boxes={"pred": {"box_data": [{"position": {"minX": 0.1, "maxX": 0.5}, "class_id": 1}]}},
        masks={"truth": {"mask_data": mask, "class_labels": {2: "cat"}}},
    )
    blobs = img.blobs()
    assert len(blobs) == 2
    cell = img.to_cell()
    table = tablelog.Table(columns=["img"], data=[[img]]).to_arrow()
    assert sorted(blobs) == media_blob_names(table)
    mask_name = next(n for n in blobs if n != img.blob_name)
    assert np.array_equal(codecs.decode_png(blobs[mask_name]), mask)
    assert '"class_labels":{"2":"cat"}' in cell["extra"]


def test_audio_html_file_video(tmp_path: Path) -> None:
    samples = np.sin(np.linspace(0, 6.28, 400))
    audio = wandb.Audio(samples, sample_rate=4000, caption="tone")
    assert (audio.sample_rate, audio.channels, audio.duration) == (4000, 1, 0.1)
    with wave.open(io.BytesIO(audio.data)) as w:
        assert w.getnframes() == 400
    assert audio.to_numpy().dtype == np.int16
    stereo = wandb.Audio(np.zeros((10, 2), dtype=np.int16), sample_rate=8000)
    assert stereo.to_numpy().shape == (10, 2)
    with pytest.raises(ColumnTypeError, match="sample_rate"):
        wandb.Audio(samples)
    html = wandb.Html("<b>hi</b>")
    assert html.data == b"<b>hi</b>" and html.mime == "text/html"
    page = tmp_path / "page.html"
    page.write_text("<i>file</i>")
    assert wandb.Html(str(page)).html == "<i>file</i>"
    f = wandb.File(b"\x00\x01", ext="npy")
    assert f.ext == "npy" and f.size == 2
    with pytest.raises(ColumnTypeError, match="extension"):
        wandb.File(b"x", ext="../etc")
    frames = wandb.Video(np.zeros((2, 3, 4, 4), dtype=np.uint8))  # W&B's default: gif
    assert (frames.ext, frames.width, frames.height, frames.duration) == ("gif", 4, 4, 0.5)
    video = wandb.Video(b"fake mp4", format="mp4", fps=4)
    assert video.to_cell()["fps"] == 4.0 and video.ext == "mp4"


def test_a_media_column_holds_media_only() -> None:
    t = tablelog.Table(columns=["m"])
    t.add_data(wandb.Html("x"))
    with pytest.raises(ColumnTypeError, match="holds media"):
        t.add_data(3)
    with pytest.raises(ColumnTypeError, match="cell of its own"):
        tablelog.Table(columns=["l"], data=[[[wandb.Html("x")]]])
    mixed = tablelog.Table(columns=["m"], allow_mixed_types=True)
    mixed.add_data(wandb.Html("x"))
    mixed.add_data(3)
    with pytest.raises(ColumnTypeError, match="cell of its own"):
        mixed.to_arrow()


def test_array_columns_keep_one_shape() -> None:
    t = tablelog.Table(columns=["a"])
    t.add_data(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match=r"shape \(2, 3\).*\(3, 2\)"):
        t.add_data(np.zeros((3, 2), dtype=np.float32))
    assert t.num_rows == 1
    t.add_data(None)
    t.add_data(np.ones((2, 3), dtype=np.float32))
    arrow = t.to_arrow()
    assert str(arrow.schema.field("a").type) == (
        "fixed_size_list<item: fixed_size_list<item: float>[3]>[2]"
    )
    assert arrow.column("a").to_pylist()[1] is None
    with pytest.raises(TypeError, match="shapes"):
        tablelog.Table(columns=["x"], data=[[1], [2]]).add_column("b", [np.zeros(2), np.zeros(3)])
    mixed = tablelog.Table(columns=["a"], allow_mixed_types=True)
    mixed.add_data(np.zeros(2))
    mixed.add_data(np.zeros((1, 3)))
    assert mixed.data == [[[0.0, 0.0]], [[[0.0, 0.0, 0.0]]]]


def test_get_column_numpy() -> None:
    t = tablelog.Table(columns=["x", "v", "img", "s"])
    for i in range(3):
        pixels = np.full((4, 5), i, dtype=np.uint8)
        t.add_data(i, np.arange(3) * i, wandb.Image(pixels), f"s{i}")
    x = t.get_column("x", convert_to="numpy")
    assert x.dtype == np.int64 and x.tolist() == [0, 1, 2]
    v = t.get_column("v", convert_to="numpy")
    assert v.shape == (3, 3) and v[2].tolist() == [0, 2, 4]
    imgs = t.get_column("img", convert_to="numpy")
    assert imgs.shape == (3, 4, 5) and imgs.dtype == np.uint8 and imgs[2].max() == 2
    assert t.get_column("s", convert_to="numpy").tolist() == ["s0", "s1", "s2"]
    assert isinstance(t.get_column("img")[0], tablelog.Image)


def test_media_struct_type_and_group_media_field() -> None:
    assert [f.name for f in MEDIA_TYPE][:5] == ["kind", "digest", "ext", "mime", "size"]
    group: dict[str, Any] = {"object": "a" * 64, "columns": ["img"], "size": 1}
    assert parse_group(group, "g").media == ()
    group["media"] = ["b" * 64 + ".png"]
    assert parse_group(group, "g").media == ("b" * 64 + ".png",)
    for bad in ["b" * 64 + ".PNG", "../x.png", "b" * 63 + ".png", "b" * 64 + "."]:
        group["media"] = [bad]
        with pytest.raises(FormatError, match="media blob name"):
            parse_group(group, "g")


def test_load_needs_a_media_cell() -> None:
    img = wandb.Image(np.zeros((2, 2), dtype=np.uint8))
    assert tablelog.media.load(img) == img.data
    assert tablelog.media.load(img, to="numpy").shape == (2, 2)
    with pytest.raises(ColumnTypeError, match="media cell"):
        tablelog.media.load({"a": 1})
    with pytest.raises(ValueError, match="to must be"):
        tablelog.media.load(img, to="jpeg")
    with pytest.raises(ColumnTypeError, match="image and audio"):
        tablelog.media.load(wandb.Html("x"), to="numpy")


def test_media_column_from_a_pandas_series() -> None:
    import pandas as pd

    images = [wandb.Image(np.full((2, 2), i, dtype=np.uint8)) for i in range(2)]
    t = tablelog.Table(columns=["i"], data=[[0], [1]], log_mode="MUTABLE")
    t.add_column("img", pd.Series(images))
    assert t.get_column("img") == images
    assert sorted(t._blobs) == sorted(i.blob_name for i in images)


def test_audio_file_and_pil_loading(tmp_path: Path) -> None:
    source = wandb.Audio(np.zeros((300, 2), dtype=np.int16), sample_rate=3000)
    path = tmp_path / "clip.wav"
    path.write_bytes(source.data)
    audio = wandb.Audio(str(path), caption="file")
    assert (audio.sample_rate, audio.channels, audio.duration, audio.name) == (
        3000,
        2,
        0.1,
        "clip.wav",
    )
    assert audio.data == source.data
    assert tablelog.media.load(audio, to="numpy").shape == (300, 2)
    img = wandb.Image(np.full((3, 2, 3), 7, dtype=np.uint8))
    pil = tablelog.media.load(img, to="pil")
    assert pil.size == (2, 3) and pil.mode == "RGB"
    with pytest.raises(ColumnTypeError, match="image cells"):
        tablelog.media.load(audio, to="pil")


@pytest.mark.parametrize(
    ("values", "arrow_type", "back"),
    [
        ([{}, {}], "string", [{}, {}]),  # Parquet has no empty struct: JSON text
        ([np.array(5), np.array(6)], "int64", [5, 6]),  # 0-d arrays are scalars
        ([dt.timedelta(seconds=5), None], "duration[us]", [dt.timedelta(seconds=5), None]),
        ([dt.time(1, 2), dt.time(3, 4)], "time64[us]", [dt.time(1, 2), dt.time(3, 4)]),
        ([np.float32("nan"), np.float32(1)], "float", [None, 1.0]),
        ([np.datetime64("NaT"), np.datetime64("2024-01-01T00:00")], "timestamp[s]", None),
        ([np.timedelta64(2, "D"), None], "duration[s]", [dt.timedelta(days=2), None]),
    ],
)
def test_edge_values_encode_to_parquet(values: list[Any], arrow_type: str, back: Any) -> None:
    t = tablelog.Table(columns=["x"], data=[[v] for v in values])
    arrow = t.to_arrow()
    assert str(arrow.schema.field("x").type) == arrow_type
    read = pq.read_table(io.BytesIO(encode_parquet(arrow))).column("x").to_pylist()
    if back is None:
        back = [None, dt.datetime(2024, 1, 1)]
    assert t.data == [[b] for b in back] or arrow_type == "string"
    assert [json.loads(r) for r in read] == back if arrow_type == "string" else read == back


def test_get_column_numpy_of_cells_without_numpy_values_is_a_clear_type_error() -> None:
    t = tablelog.Table(columns=["h"], data=[[tablelog.Html("<b>x</b>")]])
    with pytest.raises(tablelog.ColumnTypeError, match="only image and audio cells"):
        t.get_column("h", convert_to="numpy")
