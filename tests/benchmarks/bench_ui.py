"""``tablelog ui`` speed: the table view of a large table, over HTTP, on a real server.

Run it (not a pytest test)::

    python tests/benchmarks/bench_ui.py [--rows N] [--store local|seaweedfs] [--repeats N]

Logs one IMMUTABLE table of ``--rows`` rows (default 1,000,000; bench_core's columns:
step, input (40 chars), label, prediction, emb (8 floats)) and one INCREMENTAL table
of the same rows in 100 increments, then serves the viewer (uvicorn, in a thread) and
times requests with urllib, from the request to the last byte of the page:

- first page, cold: a new app, tablelog's caches cleared, the first GET of the table
  (targets: <= 1 s local, <= 2 s SeaweedFS);
- warm: the next page, a page far in, a new filter, a sort, an increment (target:
  changing page or filter <= 300 ms locally), each without the viewer's cache of
  page chunks and filter matches (which serves the next pages of a view from memory);
  "next page" is timed after page 1 was shown, as a user pages.

The floor is Polars alone on the same objects (``tablelog.files`` + ``pl.scan_parquet``:
the same page, filter or sort, and the row count), the least any viewer must do; each
case alternates with its floor so both see the same phases of a shared host. Medians
and maxima of ``--repeats`` runs (default 5).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

import tablelog

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parents[1] / "integration"))
from bench_core import make_frame  # noqa: E402
from servers import start_seaweedfs  # noqa: E402
from ui_support import get, serving  # noqa: E402

from tablelog.ui.pages import CACHE  # noqa: E402

TARGETS = {"local": (1.0, 0.3), "seaweedfs": (2.0, None)}


def timed(fn: Callable[[], Any], reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--store", choices=("local", "seaweedfs"), default="local")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    server = start_seaweedfs(base / "weed") if args.store == "seaweedfs" else None
    try:
        if server is not None:
            server.create_bucket("bench")
            root, so = "s3://bench/ui", server.storage_options()
            os.environ.update(server.env())
        else:
            root, so = str(base / "root"), None
        t0 = time.perf_counter()
        run_id = log_tables(root, args.rows, so)
        print(
            f"logged {args.rows:,} rows x 2 tables into {root} in {time.perf_counter() - t0:.1f} s"
        )
        measure(root, run_id, args)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def log_tables(root: str, rows: int, so: Any) -> str:
    frame = make_frame(rows, max(1, rows // 100))
    per = max(1, rows // 100)
    with tablelog.init(project="bench", root=root, storage_options=so) as run:
        run.log({"big": tablelog.Table(dataframe=frame.to_pandas())}, step=0)
        inc = tablelog.Table(columns=frame.columns, log_mode="INCREMENTAL")
        for n, start in enumerate(range(0, rows, per)):
            for row in frame.slice(start, per).iter_rows():
                inc.add_data(*row)
            run.log({"inc": inc}, step=n)
    return str(run.id)


def _floor_frame(root: str, run_id: str) -> pl.LazyFrame:
    """Polars alone on the objects of the big table (what any viewer must read)."""
    urls, _ = tablelog.files(f"bench/{run_id}/big", root=root)
    so = None
    if root.startswith("s3://"):
        so = {
            "aws_endpoint_url": os.environ["AWS_ENDPOINT_URL"],
            "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
            "aws_region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "aws_allow_http": "true",
        }
    return pl.scan_parquet(urls, storage_options=so)


def _page(lf: pl.LazyFrame, expr: pl.Expr | None, offset: int) -> Callable[[], Any]:
    def run() -> None:
        part = lf if expr is None else lf.filter(expr)
        part.slice(offset, 50).collect()
        part.select(pl.len()).collect()

    return run


Row = tuple[str, list[float], list[float] | None, float | None]


def measure(root: str, run_id: str, args: Any) -> None:
    big = f"/t/bench/{run_id}/big"
    inc = f"/t/bench/{run_id}/inc"
    reps = args.repeats
    floor_lf = _floor_frame(root, run_id)

    def cold_floor() -> None:
        tablelog.clear_caches()
        _page(_floor_frame(root, run_id), None, 0)()

    def alternate(
        ours: Callable[[], Any], floor: Callable[[], Any] | None
    ) -> tuple[list[float], list[float] | None]:
        a: list[float] = []
        b: list[float] = []
        for _ in range(reps):  # interleaved, so both see the same phases of the host
            a += timed(ours, 1)
            if floor is not None:
                b += timed(floor, 1)
        return a, (b if floor is not None else None)

    results: list[Row] = []
    first, warm_target = TARGETS[args.store]
    for name, path in (("IMMUTABLE 1 version", big), ("INCREMENTAL 100 versions", inc)):
        spent: list[float] = []

        def ours(path: str = path, spent: list[float] = spent) -> None:
            tablelog.clear_caches()
            CACHE.clear()
            with serving(root) as url:
                t0 = time.perf_counter()
                page = get(url + path)
                spent.append(time.perf_counter() - t0)
            assert page.status == 200 and page.attr("data-rows") == "50", page.text[-800:]

        _, floor_times = alternate(ours, cold_floor if path == big else None)
        results.append((f"first page, cold: {name}", spent, floor_times, first))
    label3 = pl.col("label") == 3
    both = label3 & (pl.col("prediction") > 0.5)
    abc = pl.col("input").str.contains("abc", literal=True)

    def sort_floor() -> None:
        floor_lf.sort("prediction", descending=True, nulls_last=True).head(50).collect()

    with serving(root) as url:
        get(url + big)
        get(url + inc)
        cases = [
            ("next page", f"{big}?page=2", _page(floor_lf, None, 50)),
            ("the last page", f"{big}?page={args.rows // 50}",
             _page(floor_lf, None, args.rows - 50)),
            ("filter label = 3", f"{big}?q=label+%3D+3", _page(floor_lf, label3, 0)),
            ("filter label = 3 and prediction > 0.5, page 3",
             f"{big}?q=label+%3D+3+and+prediction+%3E+0.5&page=3", _page(floor_lf, both, 100)),
            ("filter input ~ 'abc'", f"{big}?q=input+~+%27abc%27", _page(floor_lf, abc, 0)),
            ("sort by prediction (desc)", f"{big}?sort=-prediction", sort_floor),
            ("INCREMENTAL: one increment", f"{inc}?increment=50", None),
            ("INCREMENTAL: all up to step 49, page 2", f"{inc}?step=49&page=2", None),
            ("INCREMENTAL: filter label = 3", f"{inc}?q=label+%3D+3", None),
        ]  # fmt: skip
        for name, path, floor in cases:
            target = warm_target if "sort" not in name else None
            # The viewer keeps page chunks and filter matches (pages.CACHE): each timed
            # request starts without them, after the view a user comes from (page 1
            # before "next page", the table before a filter) was shown.
            before = path.replace("?page=2", "") if name == "next page" else None

            spent_now: list[float] = []  # the time of the request alone

            def one(
                path: str = path, before: str | None = before, timing: list[float] = spent_now
            ) -> None:
                CACHE.clear()
                if before is not None:
                    get(url + before)
                t0 = time.perf_counter()
                page = get(url + path)
                timing.append(time.perf_counter() - t0)
                assert page.status == 200 and 'class="error"' not in page.text, page.text[-800:]

            one()  # the first time this view is asked for
            spent_now.clear()
            _, floors = alternate(one, floor)
            results.append((f"warm: {name}", list(spent_now), floors, target))
    print(f"\n{args.store}, {args.rows:,} rows, {reps} repeats (floor: Polars alone)\n")
    print("| case | median | max | floor median | vs floor | target | met |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, times, floors, target in results:
        med, mx = statistics.median(times), max(times)
        ok = "" if target is None else ("yes" if med <= target else "**no**")
        tgt = "" if target is None else f"{target * 1000:.0f} ms"
        fl = statistics.median(floors) if floors else None
        fl_text = "" if fl is None else f"{fl * 1000:.0f} ms"
        ratio = "" if fl is None else f"{med / fl:.2f}x"
        print(
            f"| {name} | {med * 1000:.0f} ms | {mx * 1000:.0f} ms | {fl_text} | {ratio} "
            f"| {tgt} | {ok} |"
        )


if __name__ == "__main__":
    main()
