"""Table cells as HTML: escaped text, images as inline thumbnails, audio as players.

Pure functions (no I/O): the bytes of a stored media cell come from a ``resolve``
callback the caller supplies. Used by ``Table._repr_html_`` (a static table for
notebooks) and by ``export --to out.html`` (:mod:`tablelog.read.html`, which encodes
cells with :func:`encode_cell` for its script to draw).

A cell is shown as an image or audio player when it is

- a media struct: a struct with a ``digest`` field whose ``kind`` field (or the
  column's kind) is ``image`` or ``audio`` (issue 7's media cells), its bytes
  obtained through ``resolve``; or
- binary bytes that start like a PNG, JPEG, GIF or WebP image, or a WAV, Ogg, FLAC or
  MP3 file.

Everything else is text, always escaped: no cell can inject markup.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import html
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

#: A media struct -> its bytes (None when they cannot be loaded).
Resolve = Callable[[Mapping[str, Any]], "bytes | None"]

#: Larger media cells are not inlined (a page stays openable).
MAX_INLINE_BYTES = 4 * 1024 * 1024
MEDIA_KINDS = ("image", "audio")
#: Rows a notebook shows of a Table.
REPR_ROWS = 50
_TEXT_LIMIT = 2000

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
)
_EXT_MIME = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
}


def sniff(data: bytes) -> str | None:
    """The MIME type of image or audio bytes, from their first bytes; None otherwise."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    return None


def is_media_struct(value: Mapping[str, Any], column_kind: str | None = None) -> bool:
    """Whether a struct cell is a stored media reference (image or audio)."""
    kind = value.get("kind") or column_kind
    return isinstance(value.get("digest"), str) and kind in MEDIA_KINDS


def _media_mime(value: Mapping[str, Any], data: bytes) -> str | None:
    mime = sniff(data)
    if mime is None:
        declared = value.get("mime") or value.get("mime_type")
        ext = str(value.get("extension") or value.get("ext") or "").lower().lstrip(".")
        mime = declared if isinstance(declared, str) else _EXT_MIME.get(ext)
    return mime if mime and mime.split("/", 1)[0] in MEDIA_KINDS else None


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        text = json.dumps(value, ensure_ascii=False, default=_text)
    else:
        text = str(value)
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


class MediaPool:
    """Data URIs of the media shown on a page, each stored once."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, uri: str) -> int:
        found = self._index.get(uri)
        if found is None:
            found = self._index[uri] = len(self.uris)
            self.uris.append(uri)
        return found


def _media(
    value: Any, column_kind: str | None, resolve: Resolve | None
) -> tuple[str, str, str | None] | str | None:
    """(kind, data URI, caption) for a media cell, a placeholder text for media that
    cannot be shown, or None for a cell that is not media."""
    if isinstance(value, bytes):
        mime = sniff(value)
        if mime is None:
            return None
        data, caption = value, None
    elif isinstance(value, dict) and isinstance(value.get("digest"), str):
        kind = value.get("kind") or column_kind
        if not kind or kind in ("dict", "json"):
            return None  # a plain struct that happens to have a digest field
        if kind not in MEDIA_KINDS:  # video, html, file: named, not inlined
            label = value.get("name") or value.get("caption") or str(value["digest"])[:12]
            size = f", {value['size']} bytes" if isinstance(value.get("size"), int) else ""
            return f"<{kind} {label}{size}>"
        caption = value.get("caption") if isinstance(value.get("caption"), str) else None
        loaded = resolve(value) if resolve is not None else None
        if loaded is None:
            return f"<{kind} {str(value['digest'])[:12]}… not loaded>"
        data = loaded
        mime = _media_mime(value, data)
        if mime is None:
            return f"<{kind}: {len(data)} bytes of an unknown format>"
    else:
        return None
    if len(data) > MAX_INLINE_BYTES:
        return f"<{mime} of {len(data)} bytes: too large to inline>"
    return mime.split("/", 1)[0], data_uri(mime, data), caption


def encode_cell(
    value: Any, column_kind: str | None, pool: MediaPool, resolve: Resolve | None
) -> Any:
    """A cell as JSON for the export page's script: null, a number, a bool, a string,
    ``{"t": text}`` (shown as text, sorted as text) or ``{"m": media index, "k":
    "image"|"audio", "c": caption}``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 else {"t": str(value)}  # beyond a JS number
    if isinstance(value, float):
        return value if math.isfinite(value) else {"t": repr(value)}
    if isinstance(value, decimal.Decimal):
        return {"t": str(value)}
    media = _media(value, column_kind, resolve)
    if isinstance(media, tuple):
        kind, uri, caption = media
        cell: dict[str, Any] = {"m": pool.add(uri), "k": kind}
        if caption:
            cell["c"] = caption
        return cell
    if isinstance(media, str):
        return {"t": media}
    return {"t": _text(value)}


_STYLE = (
    "table.tablelog{border-collapse:collapse;font:13px system-ui,sans-serif}"
    "table.tablelog th,table.tablelog td{border:1px solid #ddd;padding:3px 6px;"
    "vertical-align:top;text-align:left;max-width:32em;overflow-wrap:anywhere}"
    "table.tablelog th{background:#f4f4f4}table.tablelog th small{color:#888;font-weight:normal}"
    "table.tablelog img{max-width:96px;max-height:96px}table.tablelog .null{color:#aaa}"
)


def type_label(dtype: pl.DataType, kind: str | None) -> str:
    """A column's type for a header: its kind for media, else the Polars type (shortened)."""
    if kind == "media" or kind in MEDIA_KINDS:
        return kind
    text = str(dtype)
    return text if len(text) <= 40 else text[:39] + "…"


def _cell_html(value: Any, column_kind: str | None, resolve: Resolve | None) -> str:
    if value is None:
        return '<td class="null">null</td>'
    media = None if isinstance(value, str | int | float) else _media(value, column_kind, resolve)
    if isinstance(media, tuple):
        kind, uri, caption = media
        src = html.escape(uri, quote=True)
        tag = (
            f'<img src="{src}" alt="{html.escape(caption or "", quote=True)}">'
            if kind == "image"
            else f'<audio controls preload="none" src="{src}"></audio>'
        )
        cap = f"<br>{html.escape(caption)}" if caption else ""
        return f"<td>{tag}{cap}</td>"
    text = media if isinstance(media, str) else _text(value)
    return f"<td>{html.escape(text)}</td>"


def frame_html(
    frame: pl.DataFrame,
    *,
    title: str = "",
    total_rows: int | None = None,
    kinds: Mapping[str, str | None] | None = None,
    resolve: Resolve | None = None,
) -> str:
    """A static, escaped HTML table of ``frame`` (for notebooks), with thumbnails."""
    kinds = kinds or {}
    names = frame.columns
    head = "".join(
        f"<th>{html.escape(n)}<br><small>{html.escape(type_label(t, kinds.get(n)))}</small></th>"
        for n, t in frame.schema.items()
    )
    body = []
    for row in frame.iter_rows():
        cells = "".join(
            _cell_html(v, kinds.get(n), resolve) for n, v in zip(names, row, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    shown = frame.height
    total = shown if total_rows is None else total_rows
    more = f", showing the first {shown}" if shown < total else ""
    caption = html.escape(f"{title}{' · ' if title else ''}{total} row(s){more}")
    return (
        f'<div><style>{_STYLE}</style><table class="tablelog"><caption>{caption}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


__all__ = [
    "MAX_INLINE_BYTES",
    "REPR_ROWS",
    "MediaPool",
    "Resolve",
    "data_uri",
    "encode_cell",
    "frame_html",
    "is_media_struct",
    "sniff",
    "type_label",
]
