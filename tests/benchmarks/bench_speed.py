"""Speed targets of tablelog against the pyarrow / Polars floor on the same store.

Run it (not a pytest test)::

    python tests/benchmarks/bench_speed.py [--quick] [--store local|seaweedfs] [--root DIR]
                                           [--json PATH] [--repeats N]

``--store local`` (default) uses a temp dir; ``--store seaweedfs`` starts ``weed mini``
(tests/servers.py) and puts tablelog and the floor in one bucket: the floor's files are
uploaded with s3fs ``pipe_file`` and read with ``pl.scan_parquet`` over S3. There the
history case runs 2,000 steps (a commit is a few ms of HTTP) and the memory case is skipped.
Reads are cold: the in-process state cache (``tablelog.format.chain.STATES``) is cleared
before each timed read, as in a fresh notebook; case 3 also reports a warm re-read.

1. INCREMENTAL 1,000 steps x 10 rows: time inside ``run.log`` (absolute targets p50 <= 0.2 ms,
   p99 <= 1 ms) and the loop incl. ``finish()`` vs one ``write_table`` file per step (<= 2x).
2. 10,000 steps x 10 rows (2,000 with ``--quick``), ``run.flush()`` after every block of 100
   steps: wall time of the last block vs the first (<= 1.2x: no growth with history), and
   the medians of the last 10 blocks vs blocks 1-10, in wall and in CPU time.
3. The 1,000-step table after ``compact``: read the latest version vs ``pl.read_parquet`` of
   one file of the same rows (<= 1.5x); read version 500 (uncompacted) vs one
   ``pl.scan_parquet`` of the first 501 per-step files (<= 1x).
4. ``Table(dataframe=pandas_df)`` + IMMUTABLE log + finish of 1M rows vs
   ``pa.Table.from_pandas`` + ``write_table`` (<= 2x).
5. Writer memory, 10,000,000 rows as 10,000 increments of 1,000 rows (a tenth with
   ``--quick``), each in a subprocess: RSS growth at the end vs after a quarter of the logs
   (<= 1.2x: flat, committed rows are released), and peak RSS growth vs only building the
   same Table as Arrow, with and without ``keep_logged_rows``.

Rows as in bench_core.py. Medians of ``--repeats`` runs (default 5, 3 with ``--quick``; case 2
runs 3 times, once with ``--quick``; the reads of case 3 at least 25 times, alternating
with the floor's). ``--quick`` also uses a tenth of the rows in 4 and 5.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from bench_core import (
    COLUMNS,
    Result,
    arrow_rows,
    make_frame,
    markdown,
    python_rows,
    settle,
    timed,
)

import tablelog
from tablelog.format.chain import STATES
from tablelog.maintenance.compact import compact

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import S3Server, start_seaweedfs

PER_STEP = 10
BLOCK = 100


@dataclass
class Absolute(Result):  # target: an absolute limit on the tablelog value (in its unit)
    limit: float = 0.0

    @property
    def passed(self) -> bool | None:
        return self.tablelog <= self.limit


class Store:
    """Where tablelog and the floor write: a local folder or a bucket on an S3 server."""

    def __init__(self, base: Path, server: S3Server | None = None) -> None:
        self.base, self.server = base, server
        self.so: dict[str, Any] | None = None
        self.pso: dict[str, str] | None = None
        if server is not None:
            import s3fs

            server.create_bucket("bench")
            self.so, self.pso = server.storage_options(), server.polars_storage_options()
            self.fs = s3fs.S3FileSystem(**self.so, skip_instance_cache=True)

    @property
    def name(self) -> str:
        return "local" if self.server is None else self.server.name

    def root(self, name: str) -> str:
        return str(self.base / name) if self.server is None else f"s3://bench/{name}"

    def kw(self, name: str) -> dict[str, Any]:
        return {"root": self.root(name), "storage_options": self.so}

    def write(self, table: pa.Table, name: str) -> str:
        """The floor's write of one Parquet file; returns what pl.scan_parquet reads."""
        if self.server is None:
            path = self.base / name
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path)
            return str(path)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        self.fs.pipe_file(f"bench/{name}", buf.getvalue())
        return f"s3://bench/{name}"

    def scan_files(self, files: list[str]) -> pl.LazyFrame:
        return pl.scan_parquet(files, storage_options=self.pso)


#: Repeats of each read (at least; reads are cheap).
READ_REPEATS = 25


def cold(fn: Any) -> Any:
    """``fn`` as a fresh process would run it: no table state cached."""

    def run() -> Any:
        STATES.clear()
        return fn()

    return run


def sec(name: str, value: float, floor: float, target: float | None = None) -> Result:
    return Result(name, "s", value, floor, target)


def chunks(rows: list[tuple[Any, ...]], n: int) -> list[list[tuple[Any, ...]]]:
    return [rows[i : i + n] for i in range(0, len(rows), n)]


def log_loop(
    store: Store,
    name: str,
    steps: list[list[tuple[Any, ...]]],
    flush: bool = False,
    scalars: int = 0,
    **init_kw: Any,
) -> dict[str, Any]:
    """Log one INCREMENTAL step per chunk (with ``scalars`` float values beside it, to
    ``_history``); ``run.flush()`` after each block of 100 if asked. ``init_kw`` go to
    ``tablelog.init`` (not timed: the total starts after it)."""
    run = tablelog.init(project="bench", **store.kw(name), **init_kw)
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    per, blocks, cpu_blocks = [], [], []
    t0 = tb = time.perf_counter()
    cb = time.process_time()  # (every thread of this process: the commit thread too)
    for s, chunk in enumerate(steps):
        for row in chunk:
            table.add_data(*row)
        logged: dict[str, Any] = {"inc": table}
        for j in range(scalars):
            logged[f"metric{j}"] = 1.0 / (s + j + 1)
        per.append(timed(run.log, logged, s))
        if flush and (s + 1) % BLOCK == 0:
            run.flush()
            blocks.append(time.perf_counter() - tb)
            cpu_blocks.append(time.process_time() - cb)
            tb, cb = time.perf_counter(), time.process_time()
    run.finish()
    total = time.perf_counter() - t0
    path = f"bench/{run.id}/inc"
    return {"path": path, "per": per, "blocks": blocks, "cpu blocks": cpu_blocks, "total": total}


def write_floor(
    store: Store, steps: list[list[tuple[Any, ...]]], prefix: str
) -> tuple[list[str], float, list[float]]:
    """The floor: one ``write_table`` file per step under ``prefix``; its files, total
    time and time per step."""
    files: list[str] = []
    per = []
    t0 = time.perf_counter()
    for s, chunk in enumerate(steps):
        t1 = time.perf_counter()
        files.append(store.write(arrow_rows(chunk), f"{prefix}/{s:06d}.parquet"))
        per.append(time.perf_counter() - t1)
    return files, time.perf_counter() - t0, per


def bench_incremental(store: Store, n_steps: int, reps: int) -> list[Result]:
    rows = python_rows(make_frame(n_steps * PER_STEP, PER_STEP), py_floats=False)
    steps, mid = chunks(rows, PER_STEP), n_steps // 2
    agg: dict[str, list[float]] = {}

    def add(**values: float) -> None:
        for k, v in values.items():
            agg.setdefault(k, []).append(float(v))

    for i in range(reps):
        r = log_loop(store, f"inc-{i}", steps)
        add(p50=np.percentile(r["per"], 50), p99=np.percentile(r["per"], 99), total=r["total"])
        files, ftotal, fper = write_floor(store, steps, f"inc-floor-{i}")
        add(ftotal=ftotal)
        add(fp50=np.percentile(fper, 50), fp99=np.percentile(fper, 99))
    kw, path = store.kw(f"inc-{reps - 1}"), r["path"]
    one_file = store.write(arrow_rows(rows), "inc-one.parquet")
    # Reads take milliseconds: repeat them more (alternating with the floor's), so that
    # their medians hold still on a busy machine.
    read_reps = max(reps, READ_REPEATS)
    for _ in range(read_reps):  # version `mid` of the uncompacted chain
        add(rmid=timed(cold(lambda: tablelog.scan(path, **kw, version=mid).collect())))
        add(wmid=timed(lambda: tablelog.scan(path, **kw, version=mid).collect()))
        add(fmid=timed(lambda: store.scan_files(files[: mid + 1]).collect()))
    mid_rows = tablelog.scan(path, **kw, version=mid).collect().drop("_increment")
    assert mid_rows.equals(store.scan_files(files[: mid + 1]).collect())
    done = compact(path, **kw)
    assert done.compacted, done
    for _ in range(read_reps):
        add(read=timed(cold(lambda: tablelog.scan(path, **kw).collect())))
        add(fread=timed(lambda: store.scan_files([one_file]).collect()))
    out = tablelog.scan(path, **kw).collect()
    assert out.drop("_increment").equals(store.scan_files([one_file]).collect()), "rows differ"
    m = {k: statistics.median(v) for k, v in agg.items()}
    n, frags = f"INCREMENTAL {n_steps:,} x {PER_STEP}", f"{done.fragments_before:,} fragments"
    return [
        Absolute(f"{n}: run.log p50 (abs. <= 0.2 ms)", "s", m["p50"], m["fp50"], None, 0.2e-3),
        Absolute(f"{n}: run.log p99 (abs. <= 1 ms)", "s", m["p99"], m["fp99"], None, 1e-3),
        sec(f"{n}: loop incl. finish() vs a file per step", m["total"], m["ftotal"], 2.0),
        sec(
            f"{n}: read compacted ({frags} -> {done.fragments_after}) vs one file",
            m["read"],
            m["fread"],
            1.5,
        ),
        sec(f"{n}: read version {mid} vs scan of {mid + 1} files", m["rmid"], m["fmid"], 1.0),
        sec(f"{n}: re-read version {mid} (state cached) vs the files", m["wmid"], m["fmid"]),
    ]


def bench_history(store: Store, n_steps: int, reps: int, floor_step: float) -> list[Result]:
    rows = python_rows(make_frame(n_steps * PER_STEP, PER_STEP, seed=2), py_floats=False)
    agg: dict[str, list[float]] = {}
    for i in range(reps):
        r = log_loop(store, f"hist-{i}", chunks(rows, PER_STEP), flush=True)
        per, blocks, cpu = r["per"], r["blocks"], r["cpu blocks"]
        values = {
            "mean": np.mean(per),
            "log0": np.mean(per[:BLOCK]),
            "log1": np.mean(per[-BLOCK:]),
            "w0": blocks[0],
            "w1": blocks[-1],
            "w0s": np.median(blocks[1:11]),
            "w1s": np.median(blocks[-10:]),
            "c0s": np.median(cpu[1:11]),
            "c1s": np.median(cpu[-10:]),
        }
        for k, v in values.items():
            agg.setdefault(k, []).append(float(v))
    m = {k: statistics.median(v) for k, v in agg.items()}
    n, last = f"INCREMENTAL {n_steps:,} x {PER_STEP}", f"{n_steps - BLOCK:,}-{n_steps - 1:,}"
    return [
        sec(f"{n}: mean run.log/step vs write_table/step", m["mean"], floor_step),
        sec(f"{n}: mean run.log, steps {last} vs 0-99", m["log1"], m["log0"]),
        sec(f"{n}: wall of steps {last} vs 0-99 incl. flush", m["w1"], m["w0"], 1.2),
        sec(f"{n}: wall/100 steps, median last 10 vs blocks 1-10", m["w1s"], m["w0s"]),
        # (CPU time of the process: drift in what else the machine runs does not count)
        sec(f"{n}: CPU/100 steps, median last 10 vs blocks 1-10", m["c1s"], m["c0s"]),
    ]


def bench_pandas(store: Store, n: int, reps: int) -> list[Result]:
    df = make_frame(n, 1000).to_pandas()
    tl, fl = [], []
    for i in range(reps):
        run = tablelog.init(project="bench", **store.kw(f"pd-{i}"))
        settle()  # (our fsync is not charged for the floor's unsynced pages)
        t0 = time.perf_counter()
        run.log({"imm": tablelog.Table(dataframe=df)}, step=0)
        run.finish()
        tl.append(time.perf_counter() - t0)
        settle()
        fl.append(timed(lambda i=i: store.write(pa.Table.from_pandas(df), f"pd-floor-{i}.parquet")))
    assert tablelog.scan(f"bench/{run.id}/imm", **store.kw(f"pd-{i}")).collect().height == n
    name = f"IMMUTABLE {n:,} rows: Table(dataframe=pandas)+log+finish vs from_pandas+write"
    return [Result(name, "s", statistics.median(tl), statistics.median(fl), 2.0)]


def peak_rss() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in bytes."""
    kv = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(kv["VmRSS"].split()[0]) * 1024, int(kv["VmHWM"].split()[0]) * 1024


def memory_child(mode: str, root: str, n_steps: int, per: int) -> None:
    """Subprocess body: log ``n_steps`` increments of ``per`` rows ("log": committed rows
    released, the default; "keep": ``keep_logged_rows=True``) or only build the same Table
    ("arrow": converted per increment as run.log does, via ``_rows_since``); print the RSS
    growth at a quarter of the steps, at the end and at its peak."""
    run = None
    if mode != "arrow":
        run = tablelog.init(project="bench", root=root, keep_logged_rows=mode == "keep")
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    frame = make_frame(per, per)
    rss0, _ = peak_rss()
    quarter = 0
    for s in range(n_steps):
        for row in python_rows(frame.with_columns(step=pl.lit(s)), py_floats=False):
            table.add_data(*row)
        if run is not None:
            run.log({"inc": table}, step=s)
        else:
            table._rows_since(s * per)
        if s + 1 == n_steps // 4:
            quarter = peak_rss()[0] - rss0
    if run is not None:
        run.finish()
    rss1, hwm = peak_rss()
    print(json.dumps({"peak": hwm - rss0, "end": rss1 - rss0, "quarter": quarter,
                      "rows": len(table)}))  # fmt: skip


def bench_memory(base: Path, n_steps: int, per: int) -> list[Result]:
    got = {}
    for mode in ("arrow", "keep", "log"):
        cmd = [sys.executable, __file__, "--mem-child", mode, str(base / f"mem-{mode}"),
               str(n_steps), str(per)]  # fmt: skip
        got[mode] = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
        assert got[mode]["rows"] == n_steps * per
    n = f"{n_steps * per:,} rows as {n_steps:,} logs"
    log, keep, arrow = got["log"], got["keep"], got["arrow"]
    return [
        Result(f"{n}: RSS growth, end vs after {n_steps // 4:,} logs (flat)", "B",
               log["end"], log["quarter"], 1.2),
        Result(f"{n}: peak RSS growth vs the Table kept as Arrow", "B", log["peak"],
               arrow["peak"], None),
        Result(f"{n}: peak RSS growth, keep_logged_rows=True vs as Arrow", "B", keep["peak"],
               arrow["peak"], None),
    ]  # fmt: skip


def main() -> None:
    if sys.argv[1:2] == ["--mem-child"]:
        mode, root, n_steps, per = sys.argv[2:6]
        return memory_child(mode, root, int(n_steps), int(per))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1/10 of the data, 2,000-step history")
    ap.add_argument("--store", choices=("local", "seaweedfs"), default="local")
    ap.add_argument("--root", help="directory for scratch data (default: a temp dir)")
    ap.add_argument("--json", help="write the results as JSON to this path")
    ap.add_argument("--repeats", type=int, help="repeats per measurement (default 5, quick 3)")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    reps = args.repeats or (3 if args.quick else 5)
    local = args.store == "local"
    hist_steps, hist_reps = (2_000, 1) if args.quick else (10_000 if local else 2_000, 3)

    if args.root:
        Path(args.root).mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="tablelog-bench-speed-", dir=args.root))
    server = None if local else start_seaweedfs(base / "weed")
    try:
        store = Store(base / "data", server)
        results = bench_incremental(store, 1_000, reps)
        floor_step = next(r.floor for r in results if "p50" in r.name)
        results += bench_history(store, hist_steps, hist_reps, floor_step)
        results += bench_pandas(store, 1_000_000 // scale, reps)
        if local:
            results += bench_memory(base, 10_000 // scale, 1_000)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)

    print(markdown(results))
    print(
        f"\n{store.name}: median of {reps} runs ({hist_reps} for the {hist_steps:,}-step case, "
        f"{max(reps, READ_REPEATS)} for reads) "
        f"in {base.parent}; 'abs.' rows compare the tablelog value itself with the limit "
        "(floor: write_table p50/p99 per step, for reference)"
    )
    if args.json:
        versions = {m.__name__: m.__version__ for m in (tablelog, pl, pa, np)}
        meta = {**vars(args), "repeats": reps, "history_steps": hist_steps}
        meta.update(versions=versions, python=platform.python_version(), os=platform.platform())
        out = [{**r.__dict__, "ratio": r.ratio, "passed": r.passed} for r in results]
        Path(args.json).write_text(json.dumps({"meta": meta, "results": out}, indent=2) + "\n")


if __name__ == "__main__":
    main()
