"""``export --to out.html``: one self-contained page (issue 8), on a local root and moto.

What the page holds is read back from its JSON block; how a browser draws it is
tests/integration/test_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
import struct
import wave
import zlib
from pathlib import Path
from typing import Any

import pytest

import tablelog
from tablelog.cli import main
from tablelog.format import paths
from tablelog.objects import open_store

Capsys = pytest.CaptureFixture[str]
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid RGB PNG (stdlib only)."""
    row = b"\x00" + bytes(rgb) * width
    body = zlib.compress(row * height)

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def wav(samples: int = 800) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * samples)
    return buf.getvalue()


def log_tables(where: Any) -> str:
    """proj/RUN: media (IMMUTABLE, PNG/WAV bytes, a stored media cell, hostile text),
    inc (INCREMENTAL x3), mut (MUTABLE x3, a column added)."""
    pic = png(12, 8, (20, 160, 40))
    digest = hashlib.sha256(pic).hexdigest()
    open_store(where.root).put(paths.media_key(digest, "png"), pic)
    stored = {"kind": "image", "digest": digest, "ext": "png", "caption": "a <b>leaf</b>"}
    missing = {"kind": "image", "digest": "0" * 64, "ext": "png", "caption": None}
    with where.init(project="proj") as run:
        media = tablelog.Table(
            columns=["name", "raw", "cell", "sound", "n"],
            data=[
                [EVIL, png(6, 4), stored, wav(), 2.5],
                ["plain", b"\x00\x01 not media", missing, None, -1.0],
            ],
        )
        run.log({"media": media}, step=0)
        inc = tablelog.Table(columns=["i", "label"], log_mode="INCREMENTAL")
        for s in range(3):
            inc.add_data(s, f"row {s}")
            inc.add_data(s + 10, f"row {s + 10}")
            run.log({"inc": inc}, step=s + 1)
        mut = tablelog.Table(columns=["k", "v"], data=[["a", 1], ["b", 2]], log_mode="MUTABLE")
        run.log({"mut": mut}, step=5)
        mut.add_column("w", [0.5, 0.25])
        run.log({"mut": mut}, step=6)
        mut.add_data("c", 3, 0.125)
        run.log({"mut": mut}, step=7)
    return run.id


def page_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="tl-data">(.*?)</script>', page, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def view_rows(data: dict[str, Any], n: int = -1) -> list[list[Any]]:
    return [data["rows"][i] for i in data["views"][n]["ids"]]


def test_export_html_page(cli_root: Any, capsys: Capsys, tmp_path: Path) -> None:
    run_id = log_tables(cli_root)
    out = tmp_path / "media.html"
    code = main(["--root", cli_root.root, "export", f"proj/{run_id}/media", "--to", str(out)])
    text, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert text.startswith(f"wrote 2 row(s), 5 column(s) of proj/{run_id}/media version 0 ")
    page = out.read_text()
    # Self-contained: no network reference; nothing from the table is live markup.
    assert "default-src 'none'" in page and "http://" not in page and "https://" not in page
    for markup in ("<script>alert", "<img src=x", "<b>leaf"):
        assert markup not in page  # in the JSON block as \u003c..., never as markup
    assert "innerHTML" not in page
    data = page_data(page)
    assert data["selector"] is None and data["mode"] == "IMMUTABLE"
    assert [c["name"] for c in data["views"][0]["columns"]] == ["name", "raw", "cell", "sound", "n"]
    first, second = view_rows(data)
    assert first[0] == EVIL and first[4] == 2.5  # text travels as data, drawn with textContent
    raw, cell, sound = first[1], first[2], first[3]
    assert raw["k"] == "image" and data["media"][raw["m"]].startswith("data:image/png;base64,")
    assert base64.b64decode(data["media"][raw["m"]].split(",", 1)[1]) == png(6, 4)
    assert cell["k"] == "image" and cell["c"] == "a <b>leaf</b>"  # a stored media cell, loaded
    assert base64.b64decode(data["media"][cell["m"]].split(",", 1)[1]) == png(12, 8, (20, 160, 40))
    assert sound["k"] == "audio" and data["media"][sound["m"]].startswith("data:audio/wav;base64,")
    assert second[1] == {"t": "<12 bytes>"}  # binary that is not media: its size
    assert second[2] == {"t": "<image 000000000000… not loaded>"} and second[3] is None
    assert html.escape(f"proj/{run_id}/media") in page


def test_export_html_selectors(cli_root: Any, capsys: Capsys, tmp_path: Path) -> None:
    run_id = log_tables(cli_root)
    inc, mut = tmp_path / "inc.html", tmp_path / "mut.html"
    code = main(
        ["--root", cli_root.root, "export", f"proj/{run_id}/inc", "--to", str(inc), "--json"]
    )
    done = json.loads(capsys.readouterr().out)
    assert code == 0 and (done["format"], done["rows"], done["truncated"]) == ("html", 6, False)
    data = page_data(inc.read_text())
    assert data["selector"] == "increment" and len(data["views"]) == 1
    names = [c["name"] for c in data["views"][0]["columns"]]
    assert names == ["i", "label", "_increment"]
    assert [(r[0], r[2]) for r in view_rows(data)] == [
        (0, 0), (10, 0), (1, 1), (11, 1), (2, 2), (12, 2)
    ]  # fmt: skip
    # MUTABLE: each version's rows, for the version selector; rows shared between
    # versions are stored once.
    code = main(["--root", cli_root.root, "export", f"proj/{run_id}/mut", "--to", str(mut)])
    capsys.readouterr()
    data = page_data(mut.read_text())
    assert data["selector"] == "version" and data["initial"] == 2
    assert [(v["version"], v["step"], v["rows"]) for v in data["views"]] == [
        (0, 5, 2), (1, 6, 2), (2, 7, 3)
    ]  # fmt: skip
    assert view_rows(data, 0) == [["a", 1], ["b", 2]]
    assert view_rows(data, 2) == [["a", 1, 0.5], ["b", 2, 0.25], ["c", 3, 0.125]]
    assert len(data["rows"]) == 5
    code = main(
        ["--root", cli_root.root, "export", f"proj/{run_id}/mut", "--to", str(mut),
         "--version", "1", "--max-versions", "1", "--max-rows", "1"]
    )  # fmt: skip
    assert code == 0 and "the first 1 row(s) per version" in capsys.readouterr().out
    data = page_data(mut.read_text())
    assert [v["version"] for v in data["views"]] == [1] and view_rows(data) == [["a", 1, 0.5]]


def test_export_html_bad_arguments(cli_root: Any, capsys: Capsys, tmp_path: Path) -> None:
    run_id = log_tables(cli_root)
    base = ["--root", cli_root.root, "export", f"proj/{run_id}/mut"]
    for argv, fragment in [
        ([*base, "--to", "x.csv", "--max-rows", "5"], "--max-rows only applies to an .html"),
        ([*base, "--to", "x.html", "--max-versions", "0"], "must be > 0"),
        ([*base, "--to", "x.html", "--max-rows", "-1"], "must be >= 0"),
        ([*base, "--to", "x.htmlx"], "unknown extension '.htmlx'"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        out, err = capsys.readouterr()
        assert exc.value.code == 2 and not out and err.count("\n") == 1 and fragment in err, err
    code = main([*base, "--to", str(tmp_path / "no" / "x.html")])
    err = capsys.readouterr().err
    assert code == 1 and "does not exist" in err and err.count("\n") == 1
    assert not list(tmp_path.glob("**/*.html"))


def test_export_html_media_values(cli_root: Any, tmp_path: Path) -> None:
    """issue 7's media values (tablelog.Image / Audio / Html) on the page."""
    if not hasattr(tablelog, "Image"):
        pytest.skip("media values (issue 7: tablelog.Image) are not in this tree yet")
    import numpy as np

    pixels = np.zeros((9, 7, 3), dtype=np.uint8)
    pixels[:, :, 1] = 200
    row = [
        tablelog.Image(pixels, caption="<green>"),
        tablelog.Audio(np.zeros(800, dtype=np.int16), sample_rate=8000),
        tablelog.Html("<p>hi</p>"),
    ]
    with cli_root.init(project="proj") as run:
        run.log({"media": tablelog.Table(columns=["img", "snd", "page"], data=[row, row])})
    out = tmp_path / "media.html"
    assert main(["--root", cli_root.root, "export", f"proj/{run.id}/media", "--to", str(out)]) == 0
    data = page_data(out.read_text())
    img, snd, page = view_rows(data)[0]
    assert (img["k"], img["c"], snd["k"]) == ("image", "<green>", "audio")
    assert [c["type"] for c in data["views"][0]["columns"]] == ["media"] * 3
    pic = base64.b64decode(data["media"][img["m"]].split(",", 1)[1])
    assert pic.startswith(b"\x89PNG") and struct.unpack(">II", pic[16:24]) == (7, 9)
    assert data["media"][snd["m"]].startswith("data:audio/wav;base64,")
    assert page["t"].startswith("<html ") and "<p>" not in out.read_text()
    assert len(data["rows"]) == 1 and len(data["media"]) == 2  # equal rows and blobs once
