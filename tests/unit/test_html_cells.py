"""Cells as HTML (tablelog/table/html.py): media detection, JSON for the page, escaping."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from tablelog.table import html as cells

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 30
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "


def encode(value: Any, kind: str | None = None, resolve: Any = None) -> tuple[Any, list[str]]:
    pool = cells.MediaPool()
    return cells.encode_cell(value, kind, pool, resolve), pool.uris


def test_sniff() -> None:
    assert cells.sniff(PNG) == "image/png"
    assert cells.sniff(b"\xff\xd8\xff\xe0....") == "image/jpeg"
    assert cells.sniff(b"GIF89a...") == "image/gif"
    assert cells.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert cells.sniff(WAV) == "audio/wav"
    assert cells.sniff(b"OggS....") == "audio/ogg"
    assert cells.sniff(b"<svg onload=alert(1)>") is None  # SVG can script: never inlined
    assert cells.sniff(b"") is None


def test_plain_values() -> None:
    assert encode(None)[0] is None and encode(True)[0] is True and encode("<b>")[0] == "<b>"
    assert encode(3)[0] == 3 and encode(2.5)[0] == 2.5
    assert encode(2**60)[0] == {"t": str(2**60)}  # beyond a JavaScript number
    assert encode(math.nan)[0] == {"t": "nan"} and encode(-math.inf)[0] == {"t": "-inf"}
    assert encode(decimal.Decimal("1.10"))[0] == {"t": "1.10"}
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert encode(stamp)[0] == {"t": "2026-01-02T03:04:05+00:00"}
    assert encode([1, {"a": "<x>"}])[0] == {"t": '[1, {"a": "<x>"}]'}
    assert encode(b"\x00\x01\x02")[0] == {"t": "<3 bytes>"}
    assert encode("x" * 5000)[0] == "x" * 5000  # strings are data, not truncated
    assert len(encode(["x" * 5000])[0]["t"]) == 2000


def test_media_cells() -> None:
    cell, uris = encode(PNG)
    assert cell == {"m": 0, "k": "image"} and uris[0].startswith("data:image/png;base64,")
    assert encode(WAV)[0] == {"m": 0, "k": "audio"}
    blobs = {"d1": PNG}

    def resolve(c: Mapping[str, Any]) -> bytes | None:
        return blobs.get(str(c["digest"]))

    stored = {"kind": "image", "digest": "d1", "ext": "png", "caption": "c"}
    assert encode(stored, "media", resolve)[0] == {"m": 0, "k": "image", "c": "c"}
    # The column's kind names the media when the struct has no kind field.
    assert encode({"digest": "d1", "ext": "png"}, "image", resolve)[0]["k"] == "image"
    missing = {"kind": "image", "digest": "d2" * 8, "ext": "png"}
    assert encode(missing, "media", resolve)[0] == {"t": "<image d2d2d2d2d2d2… not loaded>"}
    video = {"kind": "video", "digest": "d3", "name": "clip.mp4", "size": 9}
    assert encode(video, "media", resolve)[0] == {"t": "<video clip.mp4, 9 bytes>"}
    # A plain struct with a digest field is a struct, shown as JSON text.
    assert encode({"digest": "abc", "n": 1}, "dict")[0] == {"t": '{"digest": "abc", "n": 1}'}
    # Bytes that are not an image although the cell says so stay out of <img>.
    blobs["d4"] = b"<svg onload=alert(1)>"
    fake = {"kind": "image", "digest": "d4", "ext": "svg"}
    assert encode(fake, "media", resolve)[0] == {"t": "<image: 21 bytes of an unknown format>"}
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * cells.MAX_INLINE_BYTES
    assert encode(big)[0]["t"].endswith("too large to inline>")


def test_pool_stores_each_uri_once() -> None:
    pool = cells.MediaPool()
    first = cells.encode_cell(PNG, None, pool, None)
    second = cells.encode_cell(PNG, None, pool, None)
    assert first == second and len(pool.uris) == 1


def test_frame_html_escapes_everything() -> None:
    frame = pl.DataFrame({"<th>": ["<script>x</script>", None], "img": [PNG, b"\x00"]})
    page = cells.frame_html(frame, title="<t>", total_rows=5)
    assert "<script>" not in page and "<th><th>" not in page and "<t>" not in page
    assert "&lt;th&gt;" in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&lt;t&gt; · 5 row(s), showing the first 2" in page
    assert page.count("<img ") == 1 and "&lt;1 bytes&gt;" in page
