"""Media values: ``Image``, ``Audio``, ``Video``, ``Html``, ``File`` (W&B names).

A media value holds its encoded bytes (PNG, WAV, the file's own bytes, ...) and a
few fields; in a table it is stored as a small struct cell (:data:`MEDIA_TYPE`) and
its bytes as a content-addressed blob ``media/<aa>/<sha256>.<ext>`` (docs/format.md,
"Media"). Everything here is pure: encoding happens when the value is built, nothing
touches a store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from tablelog.errors import MediaError
from tablelog.format.media_cells import (
    FIELDS,
    blob_name,
)
from tablelog.format.values import check_text, to_json_text
from tablelog.media import codecs, video

log = logging.getLogger("tablelog")

KINDS = ("image", "audio", "video", "html", "file")
_EXT = re.compile(r"[a-z0-9]{1,16}")
_MIME_FALLBACK = {"html": "text/html", "png": "image/png", "wav": "audio/wav"}


def _ext(ext: str) -> str:
    ext = ext.lower().lstrip(".")
    if ext == "jpeg":
        ext = "jpg"
    if not _EXT.fullmatch(ext):
        raise MediaError(f"media file extension {ext!r} must be 1-16 lowercase letters or digits")
    return ext


def _mime(ext: str) -> str:
    return (
        _MIME_FALLBACK.get(ext)
        or mimetypes.types_map.get(f".{ext}")
        or mimetypes.guess_type(f"x.{ext}")[0]
        or "application/octet-stream"
    )


def _read_path(path: str | os.PathLike[str]) -> tuple[bytes, str, str]:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise MediaError(f"cannot read media file {str(p)!r}: {e}") from e
    return data, _ext(p.suffix or "bin") if p.suffix else "bin", p.name


def _as_numpy(value: Any) -> Any:
    """numpy arrays as they are; torch/jax tensors and lists through numpy."""
    import numpy as np

    if hasattr(value, "detach"):  # torch
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _is_path(value: Any) -> bool:
    return isinstance(value, str | os.PathLike)


class Media:
    """Base of the media values; see :class:`Image` and friends.

    Equal media (same kind, bytes and fields) compare equal; the bytes are in
    :attr:`data`, their SHA-256 in :attr:`digest`.
    """

    _tablelog_media: ClassVar[bool] = True
    kind: ClassVar[str] = "file"

    def __init__(
        self,
        data: bytes,
        *,
        ext: str,
        caption: str | None = None,
        name: str | None = None,
        fields: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        blobs: Mapping[str, bytes] | None = None,
    ) -> None:
        if caption is not None and not isinstance(caption, str):
            caption = str(caption)
        for what, text in (("caption", caption), ("name", name), ("fields", fields)):
            check_text(f"the media value's {what}", text, MediaError)
        check_text("the media value's extra", extra, MediaError)
        self._data = bytes(data)
        self._digest = hashlib.sha256(self._data).hexdigest()
        self.ext = _ext(ext)
        self.caption = caption
        self.name = name
        self._fields = dict(fields or {})
        self._extra = dict(extra or {})
        #: Further blobs the cell refers to (class masks), by blob name.
        self._more_blobs = dict(blobs or {})

    # ------------------------------------------------------------------ accessors

    @property
    def data(self) -> bytes:
        """The encoded bytes (what is stored as the blob)."""
        return self._data

    @property
    def digest(self) -> str:
        return self._digest

    @property
    def size(self) -> int:
        return len(self._data)

    @property
    def mime(self) -> str:
        return _mime(self.ext)

    @property
    def blob_name(self) -> str:
        return blob_name(self._digest, self.ext)

    def blobs(self) -> dict[str, bytes]:
        """Every blob this value stores: its own bytes, and any class masks."""
        return {self.blob_name: self._data, **self._more_blobs}

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("_fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # ---------------------------------------------------------------------- cells

    def to_cell(self) -> dict[str, Any]:
        """The struct stored in the table (:data:`MEDIA_TYPE`)."""
        cell: dict[str, Any] = dict.fromkeys(FIELDS)
        cell.update(
            kind=self.kind,
            digest=self._digest,
            ext=self.ext,
            mime=self.mime,
            size=len(self._data),
            name=self.name,
            caption=self.caption,
        )
        cell.update(self._fields)
        if self._extra:
            cell["extra"] = json.dumps(self._extra, sort_keys=True, separators=(",", ":"))
        return cell

    @classmethod
    def from_cell(cls, cell: Mapping[str, Any], data: bytes, **blobs: bytes) -> Media:
        """A media value from a stored cell and its blob's bytes."""
        kind = cell.get("kind")
        klass = _CLASSES.get(str(kind))
        if klass is None:
            raise MediaError(f"not a media cell (kind {kind!r})")
        out = klass.__new__(klass)
        fields = {k: cell.get(k) for k in klass._own_fields if cell.get(k) is not None}
        extra = json.loads(cell["extra"]) if cell.get("extra") else None
        Media.__init__(
            out,
            data,
            ext=str(cell.get("ext") or "bin"),
            caption=cell.get("caption"),
            name=cell.get("name"),
            fields=fields,
            extra=extra,
            blobs=blobs,
        )
        return out

    _own_fields: ClassVar[tuple[str, ...]] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Media):
            return NotImplemented
        return self.to_cell() == other.to_cell()

    def __hash__(self) -> int:
        return hash((self.kind, self._digest, self.caption))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        cap = f", caption={self.caption!r}" if self.caption else ""
        sep = ", " if shown else ""
        return f"{type(self).__name__}({self.ext}, {self.size} bytes{sep}{shown}{cap})"


def _image_to_uint8(arr: Any, normalize: bool = True) -> Any:
    """Pixels as uint8, rescaled as W&B's ``Image`` does (``normalize=True``): values
    in [0, 1] times 255; values in [-1, 1] mapped -1 -> 0, 1 -> 255; anything else
    clipped to 0..255 (with a warning when values fall outside it)."""
    import numpy as np

    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # CHW (torch) -> HWC, as W&B does
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise MediaError(
            f"an image array must be (H, W), (H, W, 1|3|4) or (1|3|4, H, W); got {arr.shape}"
        )
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype.kind not in "iuf":
        raise MediaError(f"an image array must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise MediaError("an image array must not contain NaN or infinity")
    if not normalize or not arr.size:
        return arr.astype(np.uint8)
    low, high = arr.min(), arr.max()
    if low >= 0 and high <= 1:
        return (arr * 255).astype(np.uint8)
    if low >= -1 and high <= 1:
        return (255 * 0.5 * (arr + 1)).astype(np.uint8)
    if low < 0 or high > 255:
        log.warning(
            "tablelog: image values span %s..%s; they are clipped to 0..255 (as W&B does)",
            low,
            high,
        )
    return arr.clip(0, 255).astype(np.uint8)


def _drop_alpha_for_jpeg(pixels: Any, file_type: str) -> Any:
    """JPEG has no alpha: drop it with W&B's warning (instead of failing to encode)."""
    if file_type == "jpg" and pixels.ndim == 3 and pixels.shape[2] == 4:
        log.warning("JPEG format does not support transparency. Ignoring alpha channel.")
        return pixels[:, :, :3]
    return pixels


def _is_matplotlib(value: Any) -> bool:
    return (
        type(value).__module__.split(".")[0] == "matplotlib"
        or getattr(value, "__name__", "") == "matplotlib.pyplot"
    )


def _figure_bytes(value: Any, file_type: str) -> bytes:
    """A matplotlib figure (or the ``pyplot`` module: its current figure) as an image."""
    import io

    fig = value.gcf() if getattr(value, "__name__", "") == "matplotlib.pyplot" else value
    if not hasattr(fig, "savefig"):
        fig = getattr(fig, "figure", None) or getattr(fig, "get_figure", lambda: None)()
    if fig is None or not hasattr(fig, "savefig"):
        raise MediaError(f"cannot draw {type(value).__name__} as an image: not a figure")
    buf = io.BytesIO()
    fig.savefig(buf, format="jpeg" if file_type == "jpg" else file_type)
    return buf.getvalue()


def _pillow() -> Any:
    try:
        import PIL.Image
    except ImportError:
        return None
    return PIL.Image


def _encode_image(pixels: Any, file_type: str) -> bytes:
    pil = _pillow()
    if pil is None:
        if file_type != "png":
            raise MediaError(
                f"encoding images as {file_type} needs Pillow: pip install 'tablelog[media]'"
            )
        return codecs.encode_png(pixels)
    return _pil_bytes(pil.fromarray(pixels), file_type)


def _pil_bytes(img: Any, file_type: str) -> bytes:
    """A PIL image encoded as ``file_type`` (``png``, ``jpg``, ...)."""
    import io

    if file_type == "jpg" and img.mode not in ("RGB", "L", "CMYK"):
        if "A" in img.mode:
            log.warning("JPEG format does not support transparency. Ignoring alpha channel.")
        img = img.convert("L" if img.mode in ("LA", "La", "I", "I;16", "F") else "RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG" if file_type == "jpg" else file_type.upper())
    return buf.getvalue()


class Image(Media):
    """An image: a numpy array (H×W, H×W×C; uint8, float in [0, 1] or bool), a PIL
    image, or a file path. Arrays and PIL images are stored as PNG (``file_type``);
    files keep their bytes. ``boxes`` (W&B's box_data dicts) are kept as plain data;
    ``masks`` (``{"name": {"mask_data": array, "class_labels": {...}}}``) are stored
    as PNG blobs of their own.
    """

    kind = "image"
    _own_fields = ("width", "height", "mode")

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        grouping: int | None = None,
        classes: Any = None,
        boxes: Mapping[str, Any] | None = None,
        masks: Mapping[str, Any] | None = None,
        file_type: str | None = None,
        normalize: bool = True,
        **_: Any,
    ) -> None:
        file_type = _ext(file_type or "png")
        name = None
        if _is_matplotlib(data_or_path):
            data_or_path = _figure_bytes(data_or_path, file_type)
        if isinstance(data_or_path, Image):
            data, ext = data_or_path.data, data_or_path.ext
            width, height, pmode = data_or_path.width, data_or_path.height, data_or_path.mode
        elif _is_path(data_or_path):
            data, ext, name = _read_path(data_or_path)
            width, height, pmode = _image_size(data)
        elif type(data_or_path).__module__.startswith("PIL."):
            img = data_or_path.convert(mode) if mode else data_or_path
            data, ext = _pil_bytes(img, file_type), file_type
            width, height, pmode = _image_size(data)
        elif isinstance(data_or_path, bytes | bytearray):
            data, ext = bytes(data_or_path), file_type
            width, height, pmode = _image_size(data)
        else:
            pixels = _image_to_uint8(_as_numpy(data_or_path), normalize)
            pixels = _drop_alpha_for_jpeg(pixels, file_type)
            if mode is not None and _pillow() is not None:
                converted = _pillow().fromarray(pixels).convert(mode)
                import numpy as np

                pixels = np.asarray(converted)
            data, ext = _encode_image(pixels, file_type), file_type
            height, width = int(pixels.shape[0]), int(pixels.shape[1])
            pmode = codecs.MODES[1 if pixels.ndim == 2 else int(pixels.shape[2])]
        extra: dict[str, Any] = {}
        more: dict[str, bytes] = {}
        if boxes:
            extra["boxes"] = _plain_json("boxes", boxes)
        if masks:
            extra["masks"] = {}
            for key, mask in masks.items():
                mask = dict(mask)
                mask_data = mask.pop("mask_data", None)
                if mask_data is None:
                    extra["masks"][str(key)] = _plain_json("masks", mask)
                    continue
                m = Image(_mask_pixels(mask_data))
                more.update(m.blobs())
                extra["masks"][str(key)] = {
                    **_plain_json("masks", mask),
                    "digest": m.digest,
                    "ext": m.ext,
                }
        if classes is not None:
            extra["classes"] = _plain_json("classes", classes)
        if grouping is not None:
            extra["grouping"] = grouping
        super().__init__(
            data,
            ext=ext,
            caption=caption,
            name=name,
            fields={"width": width, "height": height, "mode": pmode},
            extra=extra,
            blobs=more,
        )

    def to_numpy(self) -> Any:
        """The pixels as a uint8 array (H, W) or (H, W, C)."""
        return decode_image(self.data)

    def to_pil(self) -> Any:
        pil = _pillow()
        if pil is None:
            raise MediaError("PIL images need Pillow: pip install 'tablelog[media]'")
        import io

        img = pil.open(io.BytesIO(self.data))
        img.load()
        return img

    @property
    def image(self) -> Any:
        """W&B's ``Image.image``: the PIL image."""
        return self.to_pil()


def _mask_pixels(mask_data: Any) -> Any:
    import numpy as np

    arr = _as_numpy(mask_data)
    if arr.ndim != 2 or arr.dtype.kind not in "iub" or (arr.size and int(arr.max()) > 255):
        raise MediaError("mask_data must be a 2-D array of class ids 0..255")
    return arr.astype(np.uint8)


def _plain_json(what: str, value: Any) -> Any:
    try:
        text = to_json_text(value)
    except (TypeError, ValueError) as e:
        raise MediaError(f"image {what} must be plain data (JSON): {e}") from e
    return None if text is None else json.loads(text)


def _image_size(data: bytes) -> tuple[int | None, int | None, str | None]:
    found = codecs.png_size(data)
    if found is not None:
        return found
    pil = _pillow()
    if pil is None:
        return None, None, None
    import io

    try:
        with pil.open(io.BytesIO(data)) as img:
            return img.width, img.height, img.mode
    except Exception as e:  # Pillow raises many types for unreadable images
        raise MediaError(f"not an image Pillow can read: {e}") from e


def decode_image(data: bytes) -> Any:
    """Pixels of image bytes as a numpy array (Pillow, else the stdlib PNG decoder)."""
    pil = _pillow()
    if pil is None:
        return codecs.decode_png(data)
    import io

    import numpy as np

    with pil.open(io.BytesIO(data)) as img:
        return np.asarray(img)


class Audio(Media):
    """Audio: numpy samples with ``sample_rate`` (stored as WAV), or a file path."""

    kind = "audio"
    _own_fields = ("duration", "sample_rate", "channels")

    def __init__(
        self,
        data_or_path: Any,
        sample_rate: int | None = None,
        caption: str | None = None,
        **_: Any,
    ) -> None:
        name = None
        if _is_path(data_or_path):
            data, ext, name = _read_path(data_or_path)
        elif isinstance(data_or_path, bytes | bytearray):
            data, ext = bytes(data_or_path), "wav"
        else:
            if sample_rate is None:
                raise MediaError("Audio from samples needs sample_rate=")
            if isinstance(sample_rate, bool) or int(sample_rate) <= 0:
                raise MediaError(f"sample_rate must be a positive int, got {sample_rate!r}")
            data, _ch = codecs.encode_wav(_as_numpy(data_or_path), int(sample_rate))
            ext = "wav"
        fields: dict[str, Any] = {}
        info = codecs.wav_info(data) if ext == "wav" else None
        if info is not None:
            rate, channels, duration = info
            fields = {"sample_rate": rate, "channels": channels, "duration": duration}
        elif sample_rate is not None:
            fields = {"sample_rate": int(sample_rate)}
        super().__init__(data, ext=ext, caption=caption, name=name, fields=fields)

    def to_numpy(self) -> Any:
        """The samples of a WAV blob: (n,) or (n, channels), as stored (int16 for floats)."""
        return codecs.decode_wav(self.data)


class Video(Media):
    """A video file or its bytes (``format`` names the container, e.g. ``"mp4"``)."""

    kind = "video"
    _own_fields = ("fps", "width", "height", "duration")

    def __init__(
        self,
        data_or_path: Any,
        caption: str | None = None,
        fps: float | None = None,
        format: str | None = None,
        **_: Any,
    ) -> None:
        name = None
        fields: dict[str, Any] = {}
        if _is_path(data_or_path):
            data, ext, name = _read_path(data_or_path)
            if format:
                ext = _ext(format)
            if ext not in video.FORMATS:
                raise MediaError(
                    f"video file {str(data_or_path)!r} must be one of {video.FORMATS} "
                    "(as in W&B); log other files with tablelog.File"
                )
        elif isinstance(data_or_path, bytes | bytearray):
            data, ext = bytes(data_or_path), _ext(format or "mp4")
        else:
            ext = _ext(format or "gif")
            if ext not in video.FORMATS:
                raise MediaError(f"format must be one of {video.FORMATS}, got {format!r}")
            rate = 4.0 if fps is None else float(fps)
            if not rate > 0:
                raise MediaError(f"fps must be > 0, got {fps!r}")
            frames = video.prepare_frames(_as_numpy(data_or_path))
            data = video.encode(frames, rate, ext)
            t, h, w = frames.shape[:3]
            fields = {"width": int(w), "height": int(h), "duration": t / rate, "fps": rate}
        if fps is not None:
            fields["fps"] = float(fps)
        super().__init__(data, ext=ext, caption=caption, name=name, fields=fields)


class Html(Media):
    """An HTML document (a string, or the path of an ``.html`` file)."""

    kind = "html"

    def __init__(
        self, data: Any, inject: bool = True, data_is_not_path: bool = False, **_: Any
    ) -> None:
        del inject  # W&B injects its stylesheet (a URL of W&B's app); HTML is kept as given
        name = None
        if hasattr(data, "read"):
            data = data.read()
        if isinstance(data, os.PathLike):
            raw, _suffix, name = _read_path(data)
            data = raw.decode("utf-8")
        path = isinstance(data, str) and data.lower().endswith((".html", ".htm"))
        if path and not data_is_not_path and os.path.exists(data):
            raw, _suffix, name = _read_path(data)
            data = raw.decode("utf-8")
        if not isinstance(data, str):
            raise MediaError(f"Html takes a string, got {type(data).__name__}")
        super().__init__(data.encode("utf-8"), ext="html", name=name)

    @property
    def html(self) -> str:
        return self.data.decode("utf-8")


class File(Media):
    """Any file (a path) or bytes (``ext`` names the type; default ``bin``)."""

    kind = "file"

    def __init__(
        self, data_or_path: Any, ext: str | None = None, caption: str | None = None
    ) -> None:
        name = None
        if _is_path(data_or_path):
            data, found, name = _read_path(data_or_path)
            ext = ext or found
        elif isinstance(data_or_path, bytes | bytearray | memoryview):
            data = bytes(data_or_path)
        else:
            raise MediaError(f"File takes a path or bytes, got {type(data_or_path).__name__}")
        super().__init__(data, ext=ext or "bin", caption=caption, name=name)


_CLASSES: dict[str, type[Media]] = {
    "image": Image,
    "audio": Audio,
    "video": Video,
    "html": Html,
    "file": File,
}


def is_media(value: Any) -> bool:
    return getattr(value, "_tablelog_media", False) is True
