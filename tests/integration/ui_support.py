"""Shared by the ui tests: a root with two runs, and the viewer served on a free port."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from test_export_html import png, wav

import tablelog
from tablelog.ui.app import create_app
from tablelog.ui.serve import bind_socket

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'
EVIL_HTML = '<h1 id="inside">hi</h1><script>parent.document.title="pwned"</script>'


@dataclass
class Logged:
    project: str
    runs: list[str]  # [run a (lr 3e-4), run b (lr 1e-3)]


def log_root(where: Any) -> Logged:
    """proj/A and proj/B: scalars, INCREMENTAL ``preds`` (3 steps x 4 rows), MUTABLE
    ``eval`` (3 versions), IMMUTABLE ``media`` (image, audio, video, html, hostile text
    and a hostile column name); A also has ``only_a``."""
    runs = []
    for n, lr in enumerate((3e-4, 1e-3)):
        with where.init(project="proj", config={"lr": lr, "opt": {"name": "adam"}}) as run:
            preds = tablelog.Table(columns=["label", "score", "text"], log_mode="INCREMENTAL")
            evals = tablelog.Table(columns=["k", "w"], log_mode="MUTABLE")
            for step in range(3):
                for i in range(4):
                    text = EVIL if (step, i) == (1, 2) else f"row {step}-{i}"
                    preds.add_data(i % 2, step + i / 10 + n, text)
                loss = 1.0 / (step + 1) + n
                run.log({"preds": preds, "loss": loss, "acc": step * 0.25}, step=step)
            for k in "abc":
                evals.add_data(k, 1.0)
            run.log({"eval": evals}, step=5)
            evals.add_column("extra", [1, 2, 3])
            run.log({"eval": evals}, step=6)
            evals = tablelog.Table(columns=["k", "w"], data=[["z", 0.5]], log_mode="MUTABLE")
            run.log({"eval": evals}, step=7)
            pixels = np.zeros((9, 7, 3), dtype=np.uint8)
            pixels[..., 1] = 200
            media = tablelog.Table(
                columns=["img", "sound", "clip", "page", EVIL, "raw"],
                data=[
                    [
                        tablelog.Image(pixels, caption=f"<cap {n}>"),
                        tablelog.Audio(wav(), caption="beep"),
                        tablelog.Video(b"\x00\x00\x00\x18ftypmp42 not really", format="mp4"),
                        tablelog.Html(EVIL_HTML),
                        EVIL,
                        png(6, 4),
                    ]
                ],
            )
            run.log({"media": media}, step=8)
            if n == 0:
                run.log({"only_a": tablelog.Table(columns=["x"], data=[[1]])}, step=8)
        runs.append(run.id)
    return Logged("proj", runs)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def attr(self, name: str) -> str | None:
        """An attribute of the page's ``<body>``."""
        import re

        found = re.search(r"<body([^>]*)>", self.text)
        assert found is not None
        m = re.search(rf'{name}="([^"]*)"', found.group(1))
        return None if m is None else m.group(1)


def get(url: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> Response:
    req = urllib.request.Request(url, method=method, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=60) as r:
            return Response(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, dict(e.headers), e.read())


@contextlib.contextmanager
def serving(root: str) -> Iterator[str]:
    """The viewer of ``root`` on 127.0.0.1 (a free port), in a thread: its base URL."""
    app = create_app(root, allowed_hosts=["127.0.0.1", "localhost"])
    sock = bind_socket("127.0.0.1", 0)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def snapshot(folder: str) -> dict[str, tuple[bytes, int]]:
    """Every file below ``folder``: its bytes and mtime (ns)."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            out[str(p)] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def add_summary(root: str, project: str, run_id: str, **fields: Any) -> None:
    """Add fields to a local run's run.json, as a newer writer would (issue 17)."""
    path = Path(root) / "projects" / project / "runs" / run_id / "run.json"
    info = json.loads(path.read_text())
    info.update(fields)
    path.write_text(json.dumps(info))
