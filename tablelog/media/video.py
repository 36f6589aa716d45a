"""Video from numpy frames, as W&B's ``Video`` takes them.

Frames are ``(time, channels, height, width)`` or ``(batch, time, channels, height,
width)`` (a batch is tiled into a grid, as W&B does), uint8 (other dtypes are cast,
as W&B does). GIF is encoded with Pillow (``tablelog[media]``); mp4 (H.264) and webm
(VP8) with PyAV (``tablelog[video]``), whose wheels ship FFmpeg.
"""

from __future__ import annotations

import io
import logging
from fractions import Fraction
from typing import Any

from tablelog.errors import MediaError

log = logging.getLogger("tablelog")

#: Containers W&B's Video accepts.
FORMATS = ("gif", "mp4", "webm", "ogg")
_CODECS = {"mp4": ("libx264", "h264", "mpeg4"), "webm": ("libvpx", "libvpx-vp9")}


def prepare_frames(video: Any) -> Any:
    """``(time, height, width, channels)`` uint8 frames of a W&B-style video array."""
    import numpy as np

    video = np.asarray(video)
    if video.ndim < 4 or video.ndim > 5:
        raise MediaError(
            "video frames must be (time, channels, height, width) or (batch, time, "
            f"channels, height, width); got shape {video.shape}"
        )
    if video.ndim == 4:
        video = video[np.newaxis]
    b, t, c, h, w = video.shape
    if c not in (1, 3):
        raise MediaError(f"video frames must have 1 or 3 channels (axis 2), got {c}")
    if video.dtype != np.uint8:
        log.warning("tablelog: converting video data to uint8 (as W&B does)")
        video = video.astype(np.uint8)
    grid = 1 << max(b - 1, 0).bit_length()  # pad the batch to a power of two
    if grid != b:
        video = np.concatenate([video, np.zeros((grid - b, t, c, h, w), dtype=np.uint8)])
    rows = 2 ** ((grid.bit_length() - 1) // 2)
    cols = grid // rows
    video = video.reshape(rows, cols, t, c, h, w).transpose(2, 0, 4, 1, 5, 3)
    return video.reshape(t, rows * h, cols * w, c)


def encode(frames: Any, fps: float, fmt: str) -> bytes:
    """``frames`` (from :func:`prepare_frames`) encoded as ``fmt`` at ``fps``."""
    if fmt == "gif":
        return _gif(frames, fps)
    return _ffmpeg(frames, fps, fmt)


def _gif(frames: Any, fps: float) -> bytes:
    try:
        import PIL.Image
    except ImportError:
        raise MediaError(
            "encoding video frames as gif needs Pillow: pip install 'tablelog[media]'"
        ) from None
    images = [PIL.Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f) for f in frames]
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(1, round(1000 / fps)),
        loop=0,
    )
    return buf.getvalue()


def _ffmpeg(frames: Any, fps: float, fmt: str) -> bytes:
    import numpy as np

    try:
        import importlib

        av: Any = importlib.import_module("av")
    except ImportError:
        raise MediaError(
            f"encoding video frames as {fmt} needs PyAV (FFmpeg): pip install "
            "'tablelog[video]' (or log format='gif', or a video file)"
        ) from None
    codec = next((c for c in _CODECS.get(fmt, ()) if _has_codec(av, c)), None)
    if codec is None:
        raise MediaError(
            f"this FFmpeg (PyAV {av.__version__}) has no encoder for {fmt}; log "
            f"format='gif', 'mp4' or 'webm', or a video file"
        )
    _, h, w, c = frames.shape
    if c == 1:
        frames = np.repeat(frames, 3, axis=3)
    # 4:2:0 needs even sizes: pad with black.
    frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = w + w % 2, h + h % 2
        stream.pix_fmt = "yuv420p"
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def _has_codec(av: Any, name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # PyAV raises its own (version-dependent) errors for unknown codecs
        return False
    return True
