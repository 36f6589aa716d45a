"""Encoders and decoders that need only the standard library (and numpy for arrays).

PNG: Pillow is used when installed (``tablelog[media]``); without it, 8-bit
grayscale, gray+alpha, RGB and RGBA images still encode (filter 0, zlib level 6 — a
valid PNG any reader opens) and every non-interlaced 8-bit PNG decodes. WAV: the
standard library's :mod:`wave`.
"""

from __future__ import annotations

import io
import struct
import wave
import zlib
from typing import TYPE_CHECKING, Any

from tablelog.errors import ColumnTypeError

if TYPE_CHECKING:
    import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour type by channel count (8-bit samples).
_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}
_CHANNELS = {v: k for k, v in _COLOR_TYPE.items()}
MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _chunk(tag: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(tag + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 array of shape (H, W) or (H, W, C), C in 1..4 (stdlib only)."""
    import numpy as np

    if pixels.dtype != np.uint8:
        raise ColumnTypeError(f"encode_png takes uint8 pixels, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width, channels = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    raw = np.zeros((height, width * channels + 1), dtype=np.uint8)  # filter byte 0 per row
    raw[:, 1:] = rows
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)),
            _chunk(b"IEND", b""),
        )
    )


def png_size(data: bytes) -> tuple[int, int, str] | None:
    """(width, height, mode) from a PNG's header, None if ``data`` is not a PNG."""
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    mode = MODES.get(_CHANNELS.get(color, 0), "P" if color == 3 else "?")
    return width, height, mode if depth == 8 else f"{mode};{depth}"


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    import numpy as np

    data = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = int(data[y, 0]), data[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 0xFF
        elif kind in (1, 3, 4):
            cur = np.zeros(stride, dtype=np.int32)
            for x in range(stride):  # sequential by definition of these filters
                a = int(cur[x - bpp]) if x >= bpp else 0
                b = int(prev[x])
                if kind == 1:
                    pred = a
                elif kind == 3:
                    pred = (a + b) // 2
                else:
                    c = int(prev[x - bpp]) if x >= bpp else 0
                    p = a + b - c
                    pa_, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa_ <= pb and pa_ <= pc else (b if pb <= pc else c)
                cur[x] = (int(line[x]) + pred) & 0xFF
        else:
            raise ColumnTypeError(f"PNG row {y} has unknown filter type {kind}")
        out[y] = cur
        prev = cur
    return out


def decode_png(data: bytes) -> np.ndarray:
    """Pixels of an 8-bit non-interlaced gray/RGB(A) PNG as uint8 (H, W[, C]) (stdlib only)."""
    if not data.startswith(PNG_SIGNATURE):
        raise ColumnTypeError("not a PNG image")
    pos, idat, header = 8, [], b""
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if tag == b"IHDR":
            header = body
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
    if len(header) != 13:
        raise ColumnTypeError("PNG has no valid IHDR chunk")
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or color not in _CHANNELS or interlace:
        raise ColumnTypeError(
            f"decoding this PNG (bit depth {depth}, colour type {color}, interlace "
            f"{interlace}) needs Pillow: pip install 'tablelog[media]'"
        )
    channels = _CHANNELS[color]
    pixels = _unfilter(zlib.decompress(b"".join(idat)), height, width * channels, channels)
    out = pixels.reshape(height, width, channels)
    return out[:, :, 0] if channels == 1 else out


def encode_wav(samples: np.ndarray, sample_rate: int) -> tuple[bytes, int]:
    """WAV bytes of (n,) or (n, channels) samples, and the channel count.

    Floats (expected in [-1, 1], clipped) become 16-bit PCM; int16, int32 and uint8
    samples are written as they are.
    """
    import numpy as np

    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2:
        raise ColumnTypeError(f"audio samples must be 1-D or (n, channels), got {samples.shape}")
    if samples.dtype.kind == "f":
        samples = (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2")
    elif samples.dtype in (np.int16, np.int32, np.uint8):
        samples = samples.astype(samples.dtype.newbyteorder("<"))
    else:
        raise ColumnTypeError(
            f"audio samples must be float, int16, int32 or uint8, got {samples.dtype}"
        )
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(samples.dtype.itemsize)
        w.setframerate(int(sample_rate))
        w.writeframes(np.ascontiguousarray(samples).tobytes())
    return buf.getvalue(), int(samples.shape[1])


def wav_info(data: bytes) -> tuple[int, int, float] | None:
    """(sample rate, channels, duration in seconds) of WAV bytes, None if not a WAV."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            rate, channels, frames = w.getframerate(), w.getnchannels(), w.getnframes()
    except (wave.Error, EOFError, struct.error):
        return None
    return rate, channels, frames / rate if rate else 0.0


def decode_wav(data: bytes) -> np.ndarray:
    """WAV samples as (n,) (mono) or (n, channels), in the stored integer dtype."""
    import numpy as np

    with wave.open(io.BytesIO(data), "rb") as w:
        width, channels, frames = w.getsampwidth(), w.getnchannels(), w.readframes(w.getnframes())
    dtype: Any = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}.get(width)
    if dtype is None:
        raise ColumnTypeError(f"WAV with {width * 8}-bit samples is not supported")
    samples = np.frombuffer(frames, dtype=dtype).reshape(-1, channels)
    return samples[:, 0] if channels == 1 else samples
