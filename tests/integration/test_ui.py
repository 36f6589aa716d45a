"""``tablelog ui`` over HTTP: the viewer served on a real port, read with urllib.

Pages, deep links, the version/step/increment picker, paging, sort and filters, media
(served by digest, HTML sandboxed), escaping, the security headers, read-only (the
store is byte-identical after browsing), no secrets on an S3 root, and the command's
Ctrl-C. The browser tests are in test_ui_browser.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from ui_support import add_summary, get, log_root, serving, snapshot

from tablelog.objects.open import open_store
from tablelog.ui.app import BLOB_CSP, CSP


def rows_of(text: str, table_id: str = "rows") -> list[list[str]]:
    """The cell texts of a table on the page (tags dropped, entities kept)."""
    found = re.search(rf'<table id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', text, re.S)
    assert found is not None, text[:3000]
    out = []
    for tr in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        out.append([re.sub(r"<[^>]+>", "", c) for c in cells])
    return out


def test_pages_on_a_local_root(local: Any) -> None:
    logged = log_root(local)
    a, b = logged.runs
    add_summary(local.root, "proj", b, summary={"loss": 0.125, "best": {"acc": 0.9}}, tags=["x"])
    before = snapshot(local.root)
    with serving(local.root) as base:
        # projects -> runs, with config and (when a writer stored it) summary
        home = get(f"{base}/")
        assert home.status == 200 and '<a href="/p/proj">proj</a>' in home.text
        runs = get(f"{base}/p/proj")
        assert runs.attr("data-total") == "2"
        for column in ("config.lr", "config.opt.name", "summary.loss", "summary.best.acc", "tags"):
            assert f">{column}<" in runs.text
        picked = get(f"{base}/p/proj?q={quote('config.lr = 3e-4')}")
        assert picked.attr("data-total") == "1" and f"/r/proj/{a}" in picked.text
        assert f'/r/proj/{b}"' not in picked.text
        by_lr = rows_of(get(f"{base}/p/proj?sort=-config.lr").text)
        assert [r[2] for r in by_lr] == [b, a]  # pick, #, run_id
        bad = get(f"{base}/p/proj?q={quote('config.lr >')}")
        assert bad.status == 200 and 'class="error"' in bad.text and "position 12" in bad.text
        # a run: its config, tables and scalar charts
        run = get(f"{base}/r/proj/{a}")
        assert run.attr("data-tables") == "5"  # _history, eval, media, only_a, preds
        assert ">lr<" in run.text and "0.0003" in run.text
        assert 'data-metric="loss"' in run.text and "<polyline" in run.text

        # INCREMENTAL: everything, one increment, all up to a step; filter, sort, pages
        t = f"{base}/t/proj/{a}/preds"
        assert get(t).attr("data-total") == "12"
        one = get(f"{t}?increment=1")
        assert one.attr("data-total") == "4"
        assert {r[-1] for r in rows_of(one.text)} == {"1"}  # the _increment column
        upto = get(f"{t}?step=1")
        assert upto.attr("data-total") == "8" and upto.attr("data-showing") == (
            "all rows up to step 1"
        )
        assert 'value="step=1" selected' in upto.text
        assert get(f"{t}?q={quote('label = 1')}").attr("data-total") == "6"
        both = get(f"{t}?step=1&q={quote('label = 1 and score > 1.1')}")
        assert [r[2] for r in rows_of(both.text)] == ["1.3"]  # #, label, score
        top = rows_of(get(f"{t}?sort=-score&size=2").text)
        assert [r[2] for r in top] == ["2.3", "2.2"]
        last = get(f"{t}?size=5&page=3")
        assert last.attr("data-rows") == "2" and [r[0] for r in rows_of(last.text)] == ["11", "12"]
        moved = get(f"{t}?at={quote('increment=2')}&q=label+%3D+0")
        assert moved.status == 303
        assert moved.headers["location"] == f"/t/proj/{a}/preds?q=label+%3D+0&increment=2"
        assert "&lt;script&gt;alert" in get(f"{t}?increment=1").text  # hostile text stays text

        # MUTABLE: any version
        e = f"{base}/t/proj/{a}/eval"
        assert get(e).attr("data-total") == "1"
        v0, v1 = get(f"{e}?version=0"), get(f"{e}?version=1")
        assert v0.attr("data-total") == "3" and ">extra<" not in v0.text
        assert ">extra<" in v1.text and v1.attr("data-showing") == "version 1 (step 6)"
        assert 'value="version=1" selected' in v1.text

        # media: thumbnails, players, a sandboxed iframe, served by digest
        m = get(f"{base}/t/proj/{a}/media").text
        img = re.search(r'<img class="thumb" src="(/blob/[0-9a-f]{64}\.png)"', m)
        assert img is not None
        assert re.search(r'<audio controls preload="none" src="/blob/[0-9a-f]{64}\.wav"', m)
        assert re.search(r'<video class="thumb" controls [^>]*src="/blob/[0-9a-f]{64}\.mp4"', m)
        frame = re.search(r'<iframe class="htmlcell" sandbox="" [^>]*src="(/blob/[^"]+\.html)"', m)
        assert frame is not None
        assert 'src="data:image/png;base64,' in m  # raw PNG bytes inline
        assert "<script>" not in m.replace('<script src="/static/ui.js" defer></script>', "")
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in m  # cell and column name
        assert "&lt;cap 0&gt;" in m
        pic = get(f"{base}{img.group(1)}")
        assert pic.status == 200 and pic.headers["content-type"] == "image/png"
        assert hashlib.sha256(pic.body).hexdigest() == img.group(1)[6:70]
        page = get(f"{base}{frame.group(1)}")
        assert page.headers["content-security-policy"] == BLOB_CSP
        assert page.headers["content-security-policy"].startswith("sandbox;")

        # charts of both runs overlaid; compare as one table or side by side
        charts = get(f"{base}/p/proj/charts?run={a}&run={b}&metric=loss").text
        loss = re.search(r'data-metric="loss">(.*?)</figure>', charts, re.S)
        assert loss is not None and loss.group(1).count("<polyline") == 2
        assert 'data-metric="acc"' not in charts
        union = get(f"{base}/p/proj/compare?key=preds&run={a}&run={b}&q={quote('label = 1')}")
        assert union.attr("data-total") == "12"
        assert {r[1] for r in rows_of(union.text)} == {a, b}
        side = get(f"{base}/p/proj/compare?key=eval&run={a}&run={b}&layout=side")
        assert side.attr("data-rows") == "2" and f'id="rows-{a}"' in side.text
        only = get(f"{base}/p/proj/compare?key=only_a")  # every run that has it
        assert only.attr("data-total") == "1"

        # errors: not found, bad names, read-only methods, foreign Host headers
        missing = get(f"{base}/t/proj/{a}/nope")
        assert missing.status == 404 and "has no table" in missing.text
        assert get(f"{base}/blob/..%2F..%2Fetc%2Fpasswd").status in (400, 404)
        assert get(f"{base}/blob/{'0' * 64}.png").status == 404
        assert get(f"{base}/t/proj/{a}/preds?page=x").status == 400
        assert get(f"{base}/p/proj", method="POST").status == 405
        assert get(f"{base}/p/proj", headers={"Host": "evil.example:80"}).status == 400
        assert get(f"{base}/nowhere").status == 404
        # every page: the strict policy
        for r in (home, runs, get(t), get(f"{base}/nowhere")):
            assert r.headers["content-security-policy"] == CSP
            assert r.headers["x-content-type-options"] == "nosniff"
        assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
    assert snapshot(local.root) == before  # browsing wrote nothing


def test_hostile_names_are_escaped(local: Any) -> None:
    """Project, run id, key and column names are text in every page and link."""
    import tablelog

    evil = '"><img src=x onerror=alert(1)>'
    with local.init(project=f"p{evil}", id=f"r{evil}".replace("/", "")) as run:
        run.log({f"k{evil}": tablelog.Table(columns=[evil], data=[[evil]])})
        run.log({"loss": 1.0, evil: 2.0}, step=0)
    with serving(local.root) as base:
        p, r, k = quote(f"p{evil}", safe=""), quote(run.id, safe=""), quote(f"k{evil}")
        pages = [
            get(f"{base}/"),
            get(f"{base}/p/{p}"),
            get(f"{base}/r/{p}/{r}"),
            get(f"{base}/t/{p}/{r}/{k}"),
            get(f"{base}/p/{p}/charts"),
            get(f"{base}/p/{p}/compare?key={quote(f'k{evil}')}"),
        ]
        for page in pages:
            assert page.status == 200, page.text[-500:]
            assert "<img src=x" not in page.text and 'onerror=alert(1)">' not in page.text
        assert pages[3].attr("data-total") == "1"


def test_s3_root_without_secrets_in_pages(
    seaweedfs_where: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An s3:// root with credentials from AWS_* only (as the command sees them)."""
    logged = log_root(seaweedfs_where)
    a = logged.runs[0]
    for k, v in seaweedfs_where.env.items():
        monkeypatch.setenv(k, v)
    store = open_store(seaweedfs_where.root)
    keys = sorted(store.list(""))
    before = dict(zip(keys, store.get_many(keys), strict=True))
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    key_id = os.environ["AWS_ACCESS_KEY_ID"]
    assert len(secret) >= 8
    with serving(seaweedfs_where.root) as base:
        urls = [
            "/", "/p/proj", f"/r/proj/{a}", f"/t/proj/{a}/preds?increment=2",
            f"/t/proj/{a}/media", f"/t/proj/{a}/preds?q=nope+%3D+1", f"/t/proj/{a}/nope",
            "/p/proj/compare?key=preds",
        ]  # fmt: skip
        pages = {u: get(base + u) for u in urls}
        for u, page in pages.items():
            assert secret not in page.text and key_id not in page.text, u
            assert secret not in str(page.headers), u
        assert pages[f"/t/proj/{a}/preds?increment=2"].attr("data-total") == "4"
        assert seaweedfs_where.root in pages["/"].text  # the root, without credentials
        blob = re.search(r'src="(/blob/[0-9a-f]{64}\.png)"', pages[f"/t/proj/{a}/media"].text)
        assert blob is not None and get(base + blob.group(1)).status == 200
    after = sorted(store.list(""))
    assert after == keys and dict(zip(keys, store.get_many(keys), strict=True)) == before


def test_command_serves_and_stops_on_ctrl_c(local: Any, tmp_path: Path) -> None:
    log_root(local)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tablelog.cli", "ui", local.root, "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert found is not None, (line, proc.stderr.read() if proc.stderr else "")
        assert local.root in line
        assert get(f"{found.group(1)}p/proj").attr("data-total") == "2"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_command_refuses_a_taken_port(local: Any) -> None:
    from tablelog.cli import main
    from tablelog.ui.serve import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        code = main(["ui", local.root, "--no-browser", "--port", str(port)])
        assert code == 1
    finally:
        sock.close()


@pytest.mark.usefixtures("write_format_2")
def test_the_picker_and_counts_follow_logs_inside_one_commit(tmp_path: Path) -> None:
    """Format 2: logs at steps 1 and 2 that share a version are two increments: the
    picker offers each log and each step, and step=1 counts the rows up to it."""
    import threading

    import tablelog

    root = str(tmp_path / "root")
    with tablelog.init(project="proj", root=root) as run:
        t = tablelog.Table(columns=["label", "score"], log_mode="INCREMENTAL")
        for i in range(4):
            t.add_data(i % 2, i / 10)
        run.log({"preds": t}, step=0)
        run.flush()
        gate = threading.Event()
        run._worker.submit(gate.wait)  # (logs 1 and 2 wait, and share a commit)
        for step in (1, 2):
            for i in range(4):
                t.add_data(i % 2, step + i / 10)
            run.log({"preds": t}, step=step)
        gate.set()
    path = f"proj/{run.id}/preds"
    assert tablelog.history(path, root=root)["rows"].to_list() == [4, 12]
    with serving(root) as base:
        page = get(f"{base}/t/proj/{run.id}/preds?step=1")
        assert page.attr("data-total") == "8"
        options = dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)<', page.text))
        assert options["step=1"] == "all rows up to step 1 · 8 rows"
        for i in range(3):
            assert options[f"increment={i}"] == f"only increment {i} (step {i}) · 4 rows"
        one = get(f"{base}/t/proj/{run.id}/preds?increment=1")
        assert one.attr("data-total") == "4"
