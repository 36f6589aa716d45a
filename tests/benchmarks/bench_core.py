"""Core tablelog benchmarks against a plain pyarrow / Polars floor on the same disk.

Run it (not a pytest test)::

    python tests/benchmarks/bench_core.py [--quick] [--root DIR] [--json PATH] [--py-floats]

Every measurement is repeated (5 times, 3 with ``--quick``) and the median is
reported. ``--quick`` also uses a tenth of the rows/steps. ``--root DIR`` puts the
scratch directories below DIR (default: a fresh temp dir, removed afterwards).
Rows have step:int, input:str(40), label:int, prediction:float and emb:list<float32>[8];
with ``--py-floats`` the INCREMENTAL rows give emb as lists of Python floats instead
of float32 numpy arrays (tablelog then infers and stores list<double>).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

import tablelog

COLUMNS = ["step", "input", "label", "prediction", "emb"]
EMB_TYPE = pa.list_(pa.float32())


@dataclass
class Result:
    name: str
    unit: str  # "s" or "B"
    tablelog: float
    floor: float
    target: float | None  # max ratio; None = reported only

    @property
    def ratio(self) -> float:
        return self.tablelog / self.floor

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.ratio <= self.target


def make_frame(n: int, rows_per_step: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    chars = rng.integers(ord("a"), ord("z") + 1, size=(n, 40), dtype=np.uint8)
    emb = rng.standard_normal((n, 8), dtype=np.float32)
    return pl.DataFrame(
        {
            "step": np.arange(n, dtype=np.int64) // rows_per_step,
            "input": chars.view("S40").ravel().astype("U40"),
            "label": rng.integers(0, 10, n, dtype=np.int64),
            "prediction": rng.random(n),
            "emb": pl.Series(emb).cast(pl.List(pl.Float32)),
        }
    )


def python_rows(df: pl.DataFrame, py_floats: bool) -> list[tuple[Any, ...]]:
    """Rows as a training loop would have them: Python scalars, emb a float32 array."""
    emb = df["emb"].list.to_array(8).to_numpy()
    embs = emb.tolist() if py_floats else list(emb)
    return list(zip(*(df[c].to_list() for c in COLUMNS[:4]), embs, strict=True))


def arrow_rows(rows: list[tuple[Any, ...]]) -> pa.Table:
    step, text, label, pred, emb = zip(*rows, strict=True)
    return pa.table(
        {
            "step": pa.array(step, pa.int64()),
            "input": pa.array(text, pa.string()),
            "label": pa.array(label, pa.int64()),
            "prediction": pa.array(pred, pa.float64()),
            "emb": pa.array(emb, EMB_TYPE),
        }
    )


def dir_bytes(path: str | Path) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def timed(fn: Any, *args: Any) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def settle() -> None:
    """Write back every dirty page before a timed write (untimed).

    The floor never syncs, so its files are still in the page cache when tablelog's
    commit fsyncs its object; on ext4 (ordered mode) that fsync also waits for the
    floor's pages, and tablelog would be charged for the floor's writes.
    """
    os.sync()


def bench_immutable(base: Path, df: pl.DataFrame, reps: int) -> list[Result]:
    arrow = df.to_arrow()
    tl, fl = [], []
    for i in range(reps):
        root = base / f"imm-{i}"
        run = tablelog.init(project="bench", root=root)
        settle()
        t0 = time.perf_counter()
        run.log({"imm": tablelog.Table(dataframe=df)}, step=0)
        run.finish()
        tl.append(time.perf_counter() - t0)
        settle()
        fl.append(timed(pq.write_table, arrow, str(base / f"imm-floor-{i}.parquet")))
    stored = tablelog.scan(f"bench/{run.id}/imm", root=root).collect_schema()["emb"]
    assert stored == pl.List(pl.Float32), stored
    name = f"IMMUTABLE {df.height:,} rows: Table+log+finish"
    return [Result(name, "s", statistics.median(tl), statistics.median(fl), 1.5)]


def bench_mutable(base: Path, df: pl.DataFrame, reps: int) -> list[Result]:
    score = np.random.default_rng(1).random(df.height)
    grown, tl, fsize, fl = [], [], [], []
    for i in range(reps):
        root = base / f"mut-{i}"
        run = tablelog.init(project="bench", root=root)
        table = tablelog.Table(dataframe=df, log_mode="MUTABLE")
        run.log({"mut": table}, step=0)
        run.flush()
        before = dir_bytes(root)
        table.add_column("score", score)

        def relog(run: tablelog.Run, table: tablelog.Table) -> None:
            run.log({"mut": table}, step=1)
            run.flush()  # until the re-log is committed, not just queued

        tl.append(timed(relog, run, table))
        grown.append(dir_bytes(root) - before)
        run.finish()
        path = base / f"mut-floor-{i}.parquet"
        fl.append(timed(pq.write_table, pa.table({"score": score}), str(path)))
        fsize.append(path.stat().st_size)
    out = tablelog.scan(f"bench/{run.id}/mut", root=root).collect()
    assert out.columns == [*COLUMNS, "score"] and out.height == df.height
    name = f"MUTABLE {df.height:,} rows: add_column re-log"
    return [
        Result(f"{name}, bytes", "B", statistics.median(grown), statistics.median(fsize), 1.2),
        Result(f"{name}, time", "s", statistics.median(tl), statistics.median(fl), 3.0),
    ]


def bench_incremental(
    base: Path, rows: list[tuple[Any, ...]], per_step: int, reps: int
) -> tuple[list[Result], str]:
    steps = [rows[i : i + per_step] for i in range(0, len(rows), per_step)]
    agg: dict[str, list[float]] = collections.defaultdict(list)
    for i in range(reps):
        root = base / f"inc-{i}"
        run = tablelog.init(project="bench", root=root)
        table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
        per: list[float] = []
        t0 = time.perf_counter()
        for s, chunk in enumerate(steps):
            for row in chunk:
                table.add_data(*row)
            per.append(timed(run.log, {"inc": table}, s))
        run.finish()
        agg["total"].append(time.perf_counter() - t0)
        agg["p50"].append(float(np.percentile(per, 50)))
        agg["p99"].append(float(np.percentile(per, 99)))
        agg["bytes"].append(dir_bytes(root))

        floor_dir = base / f"inc-floor-{i}"
        floor_dir.mkdir()
        files, fper = [], []
        t0 = time.perf_counter()
        for s, chunk in enumerate(steps):
            files.append(str(floor_dir / f"{s:06d}.parquet"))
            fper.append(timed(pq.write_table, arrow_rows(chunk), files[-1]))
        agg["ftotal"].append(time.perf_counter() - t0)
        agg["fp50"].append(float(np.percentile(fper, 50)))
        agg["fp99"].append(float(np.percentile(fper, 99)))
        agg["fbytes"].append(dir_bytes(floor_dir))
    path = f"bench/{run.id}/inc"
    for _ in range(reps):
        agg["read"].append(timed(lambda: tablelog.scan(path, root=root).collect()))
        agg["fread"].append(timed(lambda: pl.scan_parquet(files).collect()))
    out = tablelog.scan(path, root=root).collect()
    assert out.height == len(rows) and out.columns == [*COLUMNS, "_increment"]
    m = {k: statistics.median(v) for k, v in agg.items()}
    name = f"INCREMENTAL {len(steps):,} steps x {per_step}"
    return [
        Result(f"{name}: run.log p50/step", "s", m["p50"], m["fp50"], None),
        Result(f"{name}: run.log p99/step", "s", m["p99"], m["fp99"], None),
        Result(f"{name}: logging loop total", "s", m["total"], m["ftotal"], None),
        Result(f"{name}: bytes on disk", "B", m["bytes"], m["fbytes"], 1.5),
        Result(f"{name}: read final version", "s", m["read"], m["fread"], 1.5),
    ], str(out.schema["emb"])


def fmt(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value / 2**20:.2f} MiB" if value >= 2**20 else f"{value / 2**10:.1f} KiB"
    return f"{value * 1e3:.2f} ms" if value < 1 else f"{value:.2f} s"


def markdown(results: list[Result]) -> str:
    lines = [
        "| benchmark | tablelog | floor | ratio | target | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        target = "—" if r.target is None else f"<= {r.target:g}x"
        verdict = {None: "info", True: "pass", False: "FAIL"}[r.passed]
        lines.append(
            f"| {r.name} | {fmt(r.tablelog, r.unit)} | {fmt(r.floor, r.unit)} "
            f"| {r.ratio:.2f}x | {target} | {verdict} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1/10 of the data, 3 repeats")
    ap.add_argument("--root", help="directory for scratch data (default: a temp dir)")
    ap.add_argument("--json", help="write the results as JSON to this path")
    ap.add_argument("--repeats", type=int, help="repeats per measurement (default 5, quick 3)")
    ap.add_argument("--py-floats", action="store_true", help="INCREMENTAL emb as Python floats")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    reps = args.repeats or (3 if args.quick else 5)
    n_imm, n_mut, n_steps, per_step = 200_000 // scale, 100_000 // scale, 1_000 // scale, 10

    if args.root:
        Path(args.root).mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="tablelog-bench-", dir=args.root))
    try:
        results = bench_immutable(base, make_frame(n_imm, 1000), reps)
        results += bench_mutable(base, make_frame(n_mut, 1000), reps)
        rows = python_rows(make_frame(n_steps * per_step, per_step), args.py_floats)
        inc, emb_type = bench_incremental(base, rows, per_step, reps)
        results += inc
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(markdown(results))
    print(f"\nmedian of {reps} runs in {base.parent}; INCREMENTAL emb stored as {emb_type}")
    if args.json:
        versions = {m.__name__: m.__version__ for m in (tablelog, pl, pa, np)}
        meta = {**vars(args), "repeats": reps, "incremental_emb_type": emb_type}
        meta.update(versions=versions, python=platform.python_version(), os=platform.platform())
        out = [{**r.__dict__, "ratio": r.ratio, "passed": r.passed} for r in results]
        Path(args.json).write_text(json.dumps({"meta": meta, "results": out}, indent=2) + "\n")


if __name__ == "__main__":
    main()
