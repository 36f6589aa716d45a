"""Make docs/ui.png: a small image-classification run viewed in ``tablelog ui``.

    python tests/integration/make_ui_screenshot.py docs/ui.png

Logs two runs (three epochs of predictions on 48x48 shapes, with scalars) into a temp
root, serves the viewer and has headless Chromium (tests/integration/cdp.py) open the
predictions table with a filter and the increment picker set, then screenshots it.
"""

from __future__ import annotations

import math
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cdp import Browser
from ui_support import serving

import tablelog

SHAPES = ("circle", "square", "triangle")
COLORS = {"red": (220, 60, 50), "green": (40, 170, 90), "blue": (50, 110, 220)}


def shape(kind: str, rgb: tuple[int, int, int], rng: random.Random) -> np.ndarray:
    n = 48
    y, x = np.mgrid[0:n, 0:n]
    cx, cy, r = n / 2 + rng.uniform(-5, 5), n / 2 + rng.uniform(-5, 5), rng.uniform(11, 17)
    if kind == "circle":
        mask = (x - cx) ** 2 + (y - cy) ** 2 <= r**2
    elif kind == "square":
        mask = (abs(x - cx) <= r * 0.85) & (abs(y - cy) <= r * 0.85)
    else:
        mask = (y - cy >= -r) & (y - cy <= r * 0.8) & (abs(x - cx) <= (y - cy + r) * 0.6)
    img = np.full((n, n, 3), 245, dtype=np.uint8)
    img[mask] = rgb
    return img


def log(root: str) -> str:
    rng = random.Random(7)
    first = ""
    for lr in (3e-4, 1e-3):
        config = {"lr": lr, "batch_size": 64, "model": "convnet-s"}
        with tablelog.init(project="shapes", root=root, config=config) as run:
            preds = tablelog.Table(
                columns=["image", "label", "prediction", "confidence", "correct"],
                log_mode="INCREMENTAL",
            )
            for epoch in range(3):
                skill = 0.55 + 0.15 * epoch + (0.05 if lr == 3e-4 else 0)
                for _ in range(12):
                    label = rng.choice(SHAPES)
                    color = rng.choice(list(COLORS))
                    right = rng.random() < skill
                    guess = label if right else rng.choice([s for s in SHAPES if s != label])
                    conf = round(rng.uniform(0.55, 0.99) if right else rng.uniform(0.3, 0.7), 3)
                    img = tablelog.Image(shape(label, COLORS[color], rng), caption=color)
                    preds.add_data(img, label, guess, conf, right)
                for i in range(20):
                    s = epoch * 20 + i
                    loss = 1.2 * math.exp(-s / (25 if lr == 3e-4 else 35)) + rng.uniform(0, 0.05)
                    run.log({"loss": loss, "accuracy": 1 - loss / 1.3}, step=s)
                run.log({"predictions": preds}, step=epoch * 20 + 19)
        first = first or run.id
    return first


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/ui.png").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        run_id = log(str(Path(tmp) / "root"))
        browser = Browser(Path(tmp) / "profile")
        try:
            with serving(str(Path(tmp) / "root")) as base:
                query = "step=39&q=confidence+%3E+0.6&sort=-confidence"
                url = f"{base}/t/shapes/{run_id}/predictions?{query}"
                browser.goto(url)
                browser.wait_for(
                    "[...document.images].every(i => i.complete && i.naturalWidth > 0)"
                )
                browser.screenshot(target, 960, 760)
        finally:
            browser.close()
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
