"""The exported HTML page in a real headless browser (Debian's chromium; .ci/run installs it).

chromium runs the page's script, then ``--dump-dom`` prints the DOM it built: the test
reads the rows, the loaded thumbnails (``data-natural``, set from the image's natural
size once it decoded), and checks that hostile cell text stayed text. A screenshot is
saved under the test's tmp dir.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_export_html import EVIL, log_tables

import tablelog
from tablelog.cli import main

pytestmark = pytest.mark.slow

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def chromium(tmp_path: Path) -> Any:
    if BROWSER is None:
        pytest.skip(
            "chromium is not installed: .ci/run installs Debian's package "
            "(apt-get install -y chromium); it could not be installed on this machine"
        )

    def run(url: str, *extra: str) -> str:
        done = subprocess.run(
            [
                BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                f"--user-data-dir={tmp_path / 'chromium-profile'}",
                "--virtual-time-budget=10000", *extra, url,
            ],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return run


def _body(dom: str) -> dict[str, str]:
    found = re.search(r"<body([^>]*)>", dom)
    assert found is not None, dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', found.group(1)))


def _export(local: Any, path: str, target: Path) -> str:
    assert main(["--root", local.root, "export", path, "--to", str(target)]) == 0
    return target.resolve().as_uri()


def test_page_in_chromium(
    chromium: Any, local: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = log_tables(local)
    url = _export(local, f"proj/{run_id}/media", tmp_path / "media.html")
    dom = chromium(url, "--dump-dom")
    body = _body(dom)
    assert body["data-rendered"] == "1" and body["data-rows"] == "2"
    # Both thumbnails decoded, at their natural sizes (the raw PNG bytes and the
    # media cell loaded from the store).
    assert body["data-images"] == body["data-images-loaded"] == "2"
    imgs = re.findall(r"<img [^>]*>", dom)
    assert len(imgs) == 2 and all('src="data:image/png;base64,' in i for i in imgs)
    assert sorted(re.search(r'data-natural="([^"]*)"', i).group(1) for i in imgs) == [  # type: ignore[union-attr]
        "12x8", "6x4"
    ]  # fmt: skip
    assert re.search(r'<audio [^>]*src="data:audio/wav;base64,', dom)
    # The hostile name is text in a cell, not markup: no extra script or image element.
    assert '&lt;script&gt;alert("x")&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;' in dom
    assert dom.count("<script") == 2 and '<img src="x"' not in dom and "<b>leaf" not in dom
    assert EVIL.startswith("<script>")
    shot = tmp_path / "media.png"
    chromium(url, f"--screenshot={shot}", "--window-size=1000,600")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000
    assert struct.unpack(">II", data[16:24]) == (1000, 600)
    capsys.readouterr()


def test_selectors_and_sorting_in_chromium(chromium: Any, local: Any, tmp_path: Path) -> None:
    run_id = log_tables(local)
    mut = _export(local, f"proj/{run_id}/mut", tmp_path / "mut.html")
    body = _body(dom := chromium(mut, "--dump-dom"))
    assert (body["data-version"], body["data-rows"]) == ("2", "3")
    assert "<option" in dom and "version 0 (step 5)" in dom
    body = _body(dom := chromium(f"{mut}#version=0", "--dump-dom"))
    assert (body["data-version"], body["data-rows"]) == ("0", "2")
    assert len(re.findall(r"<th[ >]", dom)) == 2  # the column added later is not in version 0
    dom = chromium(f"{mut}#version=2&sort=-w", "--dump-dom")
    cells = re.findall(r'<td class="num">([\d.]+)</td>', dom)
    assert cells[1::2] == ["0.5", "0.25", "0.125"] and cells[0::2] == ["1", "2", "3"]
    dom = chromium(f"{mut}#sort=-k", "--dump-dom")
    assert re.findall(r"<tr><td>(\w)</td>", dom) == ["c", "b", "a"]
    inc = _export(local, f"proj/{run_id}/inc", tmp_path / "inc.html")
    body = _body(dom := chromium(f"{inc}#increment=1", "--dump-dom"))
    assert body["data-rows"] == "2" and "row 1<" in dom and "row 11<" in dom
    assert "row 0<" not in dom


def test_media_values_in_chromium(chromium: Any, local: Any, tmp_path: Path) -> None:
    """A tablelog.Image cell (its blob loaded through tablelog.media) as a thumbnail."""
    import numpy as np

    pixels = np.zeros((9, 7, 3), dtype=np.uint8)
    pixels[..., 2] = 255
    with local.init(project="proj") as run:
        t = tablelog.Table(columns=["img", "caption"], log_mode="INCREMENTAL")
        for s in range(2):
            t.add_data(tablelog.Image(pixels, caption=f"<blue {s}>"), f"step {s}")
            run.log({"pics": t}, step=s)
    url = _export(local, f"proj/{run.id}/pics", tmp_path / "pics.html")
    body = _body(dom := chromium(url, "--dump-dom"))
    assert body["data-rows"] == "2" and body["data-images-loaded"] == "2"
    assert re.findall(r'data-natural="([^"]*)"', dom) == ["7x9", "7x9"]
    captions = re.findall(r'<div class="cap">([^<]*)</div>', dom)
    assert captions == ["&lt;blue 0&gt;", "&lt;blue 1&gt;"]  # text, not markup
