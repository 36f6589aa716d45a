"""Media cells: ``Image``, ``Audio``, ``Video``, ``Html``, ``File``, and :func:`load`.

A table stores a media value as a small struct (kind, digest, extension, MIME type,
size and the kind's own fields) and its bytes once, as a content-addressed blob
``media/<aa>/<sha256>.<ext>`` of the root (docs/format.md, "Media"). Scanning a
media column reads only the structs; :func:`load` fetches the bytes of one cell.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from tablelog.errors import ColumnTypeError, InvalidArgumentError
from tablelog.format import paths
from tablelog.format.media_cells import MEDIA_TYPE, media_blob_names
from tablelog.media.kinds import (
    Audio,
    File,
    Html,
    Image,
    Media,
    Video,
    decode_image,
    is_media,
)
from tablelog.objects.cas import check_digest, digest_in_key

__all__ = [
    "MEDIA_TYPE",
    "Audio",
    "File",
    "Html",
    "Image",
    "Media",
    "Video",
    "is_media",
    "load",
    "load_many",
    "media_blob_names",
]

_TO = ("bytes", "media", "pil", "numpy", "text")


def _cell_of(cell: Any) -> Mapping[str, Any]:
    if is_media(cell):
        out: Mapping[str, Any] = cell.to_cell()
        return out
    if isinstance(cell, Mapping) and cell.get("digest") and cell.get("ext"):
        return cell
    raise ColumnTypeError(
        f"load takes a media value or a media cell (a dict with digest and ext), got "
        f"{type(cell).__name__}: {cell!r:.80}"
    )


def load(
    cell: Any,
    *,
    root: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    to: str = "bytes",
) -> Any:
    """The content of a media cell, fetched from ``root`` (and checked against its digest).

    Parameters
    ----------
    cell:
        A value of a media column as a reader returns it (a dict such as
        ``df["img"][0]``), or a media value (``tablelog.Image``) itself.
    to:
        ``"bytes"`` (default), ``"media"`` (a ``tablelog.Image``/``Audio``/...),
        ``"numpy"`` (image pixels as uint8 (H, W[, C]); audio samples (n[, ch])),
        ``"pil"`` (a PIL image; needs Pillow) or ``"text"`` (UTF-8 text, for HTML).
    """
    (out,) = load_many([cell], root=root, storage_options=storage_options, to=to)
    return out


def load_many(
    cells: Iterable[Any],
    *,
    root: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    to: str = "bytes",
) -> list[Any]:
    """:func:`load` for many cells (``None`` stays ``None``), fetched in parallel
    through one connection to the store."""
    if to not in _TO:
        raise InvalidArgumentError(f"to must be one of {_TO}, got {to!r}")
    items = list(cells)
    found = [None if c is None else _cell_of(c) for c in items]
    keys = {
        paths.media_key(str(c["digest"]), str(c["ext"]))
        for c, item in zip(found, items, strict=True)
        if c is not None and not is_media(item)
    }
    fetched: dict[str, bytes] = {}
    if keys:
        from tablelog.objects.open import open_store  # (media values load no store)

        store = open_store(root, storage_options=storage_options)
        ordered = sorted(keys)
        for key, data in zip(ordered, store.get_many(ordered), strict=True):
            what = f"media blob {store.full_url(key)}"
            fetched[key] = check_digest(
                data, digest_in_key(key), what=what, advice="run `tablelog verify`"
            )
    out: list[Any] = []
    for item, cell in zip(items, found, strict=True):
        if cell is None:
            out.append(None)
            continue
        if is_media(item):
            media: Media = item
        else:
            data = fetched[paths.media_key(str(cell["digest"]), str(cell["ext"]))]
            media = Media.from_cell(cell, data)
        out.append(_convert(media, to))
    return out


def _convert(media: Media, to: str) -> Any:
    kind = media.kind
    if to == "bytes":
        return media.data
    if to == "media":
        return media
    if to == "text":
        return media.data.decode("utf-8")
    if to == "pil":
        if not isinstance(media, Image):
            raise ColumnTypeError(f"to='pil' is for image cells; this cell is {kind}")
        return media.to_pil()
    if isinstance(media, Image):
        return decode_image(media.data)
    if isinstance(media, Audio):
        return media.to_numpy()
    raise ColumnTypeError(f"to='numpy' is for image and audio cells; this cell is {kind}")
