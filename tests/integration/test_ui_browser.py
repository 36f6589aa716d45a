"""``tablelog ui`` in a real browser: headless Chromium (Debian's package) driven over
the DevTools protocol on a pipe (tests/integration/cdp.py, stdlib only).

The test clicks and types as a user does: the runs list, a filter on config, a run,
a table, the increment picker, a row filter, a sort, a media table (thumbnails
decoded, the HTML cell's script kept out of the page) and the charts. Screenshots go
to the test's tmp dir, or to $TABLELOG_UI_SCREENSHOTS when set (for a person to look
at; docs/ui.png comes from there).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cdp import BROWSER, Browser
from ui_support import add_summary, log_root, serving

pytestmark = pytest.mark.slow
# Read at import: the autouse fixture clears TABLELOG_* for each test.
KEEP_SHOTS = os.environ.get("TABLELOG_UI_SCREENSHOTS")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if BROWSER is None:
        pytest.skip(
            "chromium is not installed: .ci/run installs Debian's package "
            "(apt-get install -y chromium); it could not be installed on this machine"
        )
    b = Browser(tmp_path / "profile")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    if KEEP_SHOTS:
        Path(KEEP_SHOTS).mkdir(parents=True, exist_ok=True)
        for p in folder.glob("*.png"):
            shutil.copy(p, Path(KEEP_SHOTS) / p.name)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def body(b: Browser, name: str) -> str | None:
    value = b.eval(f"document.body.getAttribute({json.dumps(name)})")
    return None if value is None else str(value)


def column(b: Browser, name: str) -> list[str]:
    """The texts of column ``name`` in the page's #rows table."""
    script = f"""(() => {{
      const heads = [...document.querySelectorAll('#rows thead th')].map(
        th => th.firstChild ? th.firstChild.textContent : '');
      const at = heads.indexOf({json.dumps(name)});
      if (at < 0) throw new Error('no column ' + {json.dumps(name)} + ': ' + heads);
      return [...document.querySelectorAll('#rows tbody tr')].map(
        tr => tr.children[at].textContent);
    }})()"""
    out: list[str] = b.eval(script)
    return out


def submit_filter(b: Browser, text: str) -> None:
    b.act(
        f"const q = document.getElementById('q'); q.value = {json.dumps(text)}; "
        "q.form.requestSubmit();"
    )


def test_browse_filter_and_pick_in_chromium(browser: Browser, local: Any, shots: Path) -> None:
    a, b = log_root(local).runs
    add_summary(local.root, "proj", a, summary={"loss": 0.33, "acc": 0.5})
    with serving(local.root) as base:
        browser.goto(f"{base}/")
        browser.act("document.querySelector('a[href=\"/p/proj\"]').click()")
        assert body(browser, "data-total") == "2" and body(browser, "data-ready") == "1"
        assert sorted(column(browser, "run_id")) == sorted([a, b])
        losses = dict(zip(column(browser, "run_id"), column(browser, "summary.loss"), strict=True))
        assert losses[a] == "0.33"
        browser.screenshot(shots / "runs.png", 1280, 420)
        # Tick both runs and compare one table across them (one table with a run column)
        browser.act(
            "document.getElementById('pick-all').click();"
            "document.getElementById('compare-key').value = 'preds';"
            "document.getElementById('compare-btn').click();"
        )
        assert body(browser, "data-total") == "24"
        assert sorted(set(column(browser, "run_id"))) == sorted([a, b])
        browser.goto(f"{base}/p/proj")
        # The run with lr=3e-4, by a filter on its config
        submit_filter(browser, "config.lr = 3e-4")
        assert body(browser, "data-total") == "1" and column(browser, "run_id") == [a]
        assert "q=config.lr" in browser.eval("location.search")
        browser.act(f"document.querySelector('a[href=\"/r/proj/{a}\"]').click()")
        assert browser.eval("document.querySelectorAll('svg.chart polyline').length") >= 2
        browser.act(f"document.querySelector('a[href=\"/t/proj/{a}/preds\"]').click()")
        assert body(browser, "data-total") == "12"
        # The increment picker: its change event submits the form
        browser.act(
            "const s = document.getElementById('at'); s.value = 'increment=1'; "
            "s.dispatchEvent(new Event('change'));"
        )
        assert browser.eval("location.search") == "?increment=1"
        assert body(browser, "data-total") == "4"
        assert set(column(browser, "_increment")) == {"1"}
        # A filter keeps the increment (deep link: both in the URL)
        submit_filter(browser, "label = 1")
        assert body(browser, "data-total") == "2" and set(column(browser, "label")) == {"1"}
        assert browser.eval("new URLSearchParams(location.search).get('increment')") == "1"
        # All rows up to step 1, sorted by score, descending (two header clicks)
        browser.act(
            "const s = document.getElementById('at'); s.value = 'step=1'; "
            "s.dispatchEvent(new Event('change'));"
        )
        assert body(browser, "data-total") == "4"  # label = 1 in steps 0 and 1
        browser.act("[...document.querySelectorAll('#rows thead a')].find(a => "
                    "a.textContent === 'score').click()")  # fmt: skip
        browser.act("[...document.querySelectorAll('#rows thead a')].find(a => "
                    "a.textContent === 'score').click()")  # fmt: skip
        scores = [float(s) for s in column(browser, "score")]
        assert scores == sorted(scores, reverse=True) and len(scores) == 4
        browser.screenshot(shots / "table.png", 1280, 560)
        # A filter that does not parse: the message, in the page
        submit_filter(browser, "label >")
        error = browser.eval("document.querySelector('.error').textContent")
        assert "position 8" in error and body(browser, "data-total") == "0"

        # Media: decoded thumbnails, players, the HTML cell sandboxed
        browser.goto(f"{base}/t/proj/{a}/media")
        sizes = browser.wait_for(
            "(() => { const i = [...document.querySelectorAll('img.thumb')];"
            " return i.every(x => x.complete) && i.map(x => x.naturalWidth + 'x' + "
            "x.naturalHeight); })()"
        )
        assert sorted(sizes) == ["6x4", "7x9"]
        assert browser.eval("document.querySelectorAll('audio, video').length") == 2
        frame = "document.querySelector('iframe.htmlcell')"
        assert browser.eval(f"{frame}.getAttribute('sandbox')") == ""
        assert browser.eval(f"{frame}.contentDocument") is None  # another origin
        assert "pwned" not in browser.eval("document.title")
        assert browser.eval("document.querySelectorAll('script').length") == 1  # ours only
        browser.screenshot(shots / "media.png", 1280, 360)

        browser.goto(f"{base}/p/proj/charts?run={a}&run={b}")
        assert browser.eval("document.querySelectorAll('figure svg').length") == 2
        browser.screenshot(shots / "charts.png", 1000, 330)
        # The strict policy blocks nothing the pages need
        for page in ("/", "/p/proj", f"/r/proj/{a}", f"/t/proj/{a}/media",
                     "/p/proj/compare?key=preds&layout=side"):  # fmt: skip
            browser.goto(base + page)
            browser.wait_for("document.readyState === 'complete'")
            assert body(browser, "data-ready") == "1", page
            assert body(browser, "data-csp-blocked") is None, page
        # ... and does block what they must not do (an image from another origin, an inline
        # script): the counter above works. Blocked before any request is made.
        browser.eval(
            "const i = document.createElement('img'); i.src = 'http://127.0.0.1:9/x.png';"
            "document.body.appendChild(i); const s = document.createElement('script');"
            "s.textContent = 'document.title = 1'; document.body.appendChild(s);"
        )
        assert browser.wait_for("document.body.getAttribute('data-csp-blocked')") == "2"
        assert browser.eval("document.title") != "1"
    for name in ("runs", "table", "media", "charts"):
        data = (shots / f"{name}.png").read_bytes()
        assert _png_size(data)[0] in (1000, 1280) and len(data) > 5000


def test_s3_root_in_chromium(browser: Browser, seaweedfs_where: Any, monkeypatch: Any) -> None:
    a = log_root(seaweedfs_where).runs[0]
    for k, v in seaweedfs_where.env.items():
        monkeypatch.setenv(k, v)
    with serving(seaweedfs_where.root) as base:
        browser.goto(f"{base}/t/proj/{a}/preds?step=1&sort=-score")
        assert body(browser, "data-total") == "8"
        assert column(browser, "score")[0] == "1.3"
        browser.goto(f"{base}/t/proj/{a}/media")
        sizes = browser.wait_for(
            "(() => { const i = [...document.querySelectorAll('img.thumb')];"
            " return i.every(x => x.complete) && i.map(x => x.naturalWidth); })()"
        )
        assert sorted(sizes) == [6, 7]
