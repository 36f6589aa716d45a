"""Line charts as inline SVG, drawn on the server (no chart library, no script).

Each series is one run's values of a ``_history`` scalar across steps. Long series
are thinned to at most :data:`MAX_POINTS` points, keeping each bucket's first, lowest
and highest point so spikes survive; non-finite values break the line.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_POINTS = 1500
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


@dataclass(frozen=True)
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float | None]


def _nice_ticks(lo: float, hi: float, n: int = 5, *, whole: bool = False) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if whole:  # steps are whole numbers: no tick between two of them
        step = max(1.0, round(step))
    first = math.ceil(lo / step) * step
    ticks: list[float] = []
    t = first
    while t <= hi + step * 1e-9 and len(ticks) < 20:
        ticks.append(0.0 if abs(t) < step * 1e-9 else t)
        t += step
    return ticks


def _label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.6g}"


def thin(xs: Sequence[float], ys: Sequence[float | None]) -> list[tuple[float, float | None]]:
    pts = list(zip(xs, ys, strict=True))
    if len(pts) <= MAX_POINTS:
        return pts
    per = math.ceil(len(pts) / (MAX_POINTS // 3))
    out: list[tuple[float, float | None]] = []
    for i in range(0, len(pts), per):
        bucket = pts[i : i + per]
        finite = [p for p in bucket if p[1] is not None and math.isfinite(p[1])]
        keep = {0}
        if finite:
            keep.add(bucket.index(min(finite, key=lambda p: p[1] or 0.0)))
            keep.add(bucket.index(max(finite, key=lambda p: p[1] or 0.0)))
        out.extend(bucket[j] for j in sorted(keep))
    return out


def line_chart(title: str, series: Sequence[Series], *, width: int = 460, height: int = 240) -> str:
    """An ``<svg>`` element: one polyline per series, axes with ticks, a legend."""
    esc = html.escape
    left, right, top, bottom = 62, 12, 26, 34
    legend_rows = math.ceil(len(series) / 2) if len(series) > 1 else 0
    full_h = height + legend_rows * 16
    pw, ph = width - left - right, height - top - bottom
    thinned = [thin(s.xs, s.ys) for s in series]
    finite = [(x, y) for pts in thinned for x, y in pts if y is not None and math.isfinite(y)]
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{full_h}" viewBox="0 0 {width} {full_h}" role="img">',
        f"<title>{esc(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="600" fill="#222">{esc(title)}</text>',
    ]
    if not finite:
        parts.append(
            f'<text x="{left}" y="{top + ph / 2:.0f}" font-size="12" fill="#888">no values</text>'
        )
        parts.append("</svg>")
        return "".join(parts)
    x0, x1 = min(p[0] for p in finite), max(p[0] for p in finite)
    y0, y1 = min(p[1] for p in finite), max(p[1] for p in finite)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    parts.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#ccc"/>'
    )
    for t in _nice_ticks(y0, y1):
        y = sy(t)
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#555">{esc(_label(t))}</text>'
        )
    whole = all(float(x).is_integer() for x, _ in finite)
    for t in _nice_ticks(x0, x1, whole=whole):
        x = sx(t)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}" stroke="#999"/>'
            f'<text x="{x:.1f}" y="{top + ph + 15}" font-size="10" text-anchor="middle" '
            f'fill="#555">{esc(_label(t))}</text>'
        )
    parts.append(
        f'<text x="{left + pw / 2:.0f}" y="{top + ph + 29}" font-size="10" '
        f'text-anchor="middle" fill="#777">step</text>'
    )
    for n, (s, pts) in enumerate(zip(series, thinned, strict=True)):
        color = PALETTE[n % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for x, maybe in pts:
            if maybe is None or not math.isfinite(maybe):
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append(f"{sx(x):.1f},{sy(maybe):.1f}")
        for line in runs:
            if len(line) == 1:
                cx, cy = line[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            elif line:
                parts.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="1.6" '
                    f'points="{" ".join(line)}"><title>{esc(s.label)}</title></polyline>'
                )
    if legend_rows:
        for n, s in enumerate(series):
            lx = left + (n % 2) * (pw / 2)
            ly = height + (n // 2) * 16 + 4
            color = PALETTE[n % len(PALETTE)]
            label = s.label if len(s.label) <= 30 else s.label[:29] + "…"
            parts.append(
                f'<rect x="{lx:.0f}" y="{ly:.0f}" width="10" height="10" fill="{color}"/>'
                f'<text x="{lx + 14:.0f}" y="{ly + 9:.0f}" font-size="11" fill="#333">'
                f"{esc(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["MAX_POINTS", "Series", "line_chart", "thin"]
