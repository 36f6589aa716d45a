"""Issue #18's rows: group commit (format 2, the default) against format 1 (written with
TABLELOG_WRITE_FORMAT=1) and the floor, interleaved in one process on the same store.

Run it (not a pytest test)::

    python tests/benchmarks/bench_group_commit.py [--store local|seaweedfs] [--repeats N]
                                                   [--steps N] [--json PATH]

Each repeat runs, in turn, the floor (one ``pq.write_table`` file per step), tablelog in
format 1 and tablelog in format 2 on the same 1,000 steps x 10 rows (bench_core's rows),
INCREMENTAL, logging after each step, ``finish()`` included. Reported per row: the
median and the spread (min-max) across repeats, and the ratio of medians to the floor:

* the loop, incl. ``finish()``;
* ``run.log`` p50 and p99 (the commit thread busy beside it);
  ``--store-process`` adds format 2 with ``init(store_process=True)``, whose requests
  go from a child process (``tablelog.objects.process``), interleaved with the others
  (``init`` is outside the loop's time, for every variant: so is the child's start);
* bytes on disk (local only: objects, manifests and segments of the run vs the floor's
  files);
* a cold read of the latest version and of the table as of step 500 vs
  ``pl.scan_parquet`` of the floor's files (all, and the first 501); reads alternate
  with the floor's, 3 per repeat.

``--scalars N``: each log also carries N float values (to ``_history``).

``--history N``: also bench_speed's history case in each format (N steps, ``flush()``
after each block of 100, 3 runs): the wall time of the last block vs the first, and the
medians of the last 10 blocks vs blocks 1-10, in wall and in CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from bench_core import dir_bytes, make_frame, python_rows, timed
from bench_speed import PER_STEP, Store, bench_history, chunks, cold, log_loop, write_floor

import tablelog
from tablelog.format.chain import WRITE_FORMAT_VARIABLE

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import start_seaweedfs

READS = 3
#: What each repeat runs after the floor: format 1, format 2, and (``--store-process``)
#: format 2 with ``init(store_process=True)``.
VARIANTS = ("f1", "f2", "f2p")
VARIANT_NAMES = {"f1": "format 1", "f2": "format 2", "f2p": "format 2, store process"}


def _format(version: int) -> None:
    if version == 1:
        os.environ[WRITE_FORMAT_VARIABLE] = "1"
    else:
        os.environ.pop(WRITE_FORMAT_VARIABLE, None)


def _reads(store: Store, name: str, path: str, files: list[str], at: int, add: Any) -> None:
    """Cold reads of the latest version and as of step ``at``, alternating with the
    floor's scans of the same rows."""
    kw = store.kw(name)

    def latest() -> Any:
        return tablelog.scan(path, **kw).collect()

    def as_of() -> Any:
        return tablelog.scan(path, **kw, step=at).collect()

    for _ in range(READS):
        add("read", timed(cold(latest)))
        add("floor read", timed(lambda: store.scan_files(files).collect()))
        add("step", timed(cold(as_of)))
        add("floor step", timed(lambda: store.scan_files(files[: at + 1]).collect()))
    assert as_of().drop("_increment").equals(store.scan_files(files[: at + 1]).collect())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=("local", "seaweedfs"), default="local")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1_000)
    ap.add_argument("--root", help="directory for scratch data (default: a temp dir)")
    ap.add_argument("--json", help="write the results as JSON to this path")
    ap.add_argument(
        "--history", type=int, default=0, help="also N steps, flush per 100: last 100 vs first"
    )
    ap.add_argument(
        "--scalars", type=int, default=0, help="log N float values to _history beside the table"
    )
    ap.add_argument(
        "--store-process",
        action="store_true",
        help="also format 2 with init(store_process=True) (its requests from a child process)",
    )
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tablelog-bench-group-", dir=args.root))
    server = None if args.store == "local" else start_seaweedfs(base / "weed")
    rows = python_rows(make_frame(args.steps * PER_STEP, PER_STEP), py_floats=False)
    steps = chunks(rows, PER_STEP)
    at = args.steps // 2
    got: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        got.setdefault(key, []).append(float(value))

    try:
        store = Store(base / "data", server)
        for i in range(args.repeats):
            files, ftotal, fper = write_floor(store, steps, f"floor-{i}")
            add("floor total", ftotal)
            add("floor p50", np.percentile(fper, 50))
            add("floor p99", np.percentile(fper, 99))
            if server is None:
                add("floor bytes", dir_bytes(base / "data" / f"floor-{i}"))
            for variant in VARIANTS[: 3 if args.store_process else 2]:
                fv = 1 if variant == "f1" else 2
                _format(fv)
                name = f"{variant}-{i}"
                sp = variant == "f2p"
                r = log_loop(store, name, steps, scalars=args.scalars, store_process=sp)
                add(f"{variant} total", r["total"])
                add(f"{variant} p50", np.percentile(r["per"], 50))
                add(f"{variant} p99", np.percentile(r["per"], 99))
                versions = tablelog.history(r["path"], **store.kw(name)).height
                add(f"{variant} versions", versions)
                if server is None:
                    add(f"{variant} bytes", dir_bytes(base / "data" / name))

                def add_read(key: str, value: float, variant: str = variant) -> None:
                    add(key if key.startswith("floor") else f"{variant} {key}", value)

                _reads(store, name, r["path"], files, at, add_read)
            _format(1)
        history = []
        for fv in (1, 2) if args.history else ():
            _format(fv)
            for r in bench_history(store, args.history, 3, floor_step=1.0):
                history.append((fv, r))
            _format(1)
    finally:
        _format(1)
        if server is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)

    def cell(key: str, unit: str) -> str:
        v = got[key]
        scale, fmt = (1e3, "{:.2f}") if unit == "ms" else (1.0, "{:.3g}")
        med = fmt.format(statistics.median(v) * scale)
        return f"{med} ({fmt.format(min(v) * scale)}-{fmt.format(max(v) * scale)})"

    def ratio(key: str, floor: str) -> str:
        return f"{statistics.median(got[key]) / statistics.median(got[floor]):.2f}x"

    rows_out = [
        ("loop incl. finish() [s]", "total", "floor total", "s"),
        ("run.log p50 [ms]", "p50", "floor p50", "ms"),
        ("run.log p99 [ms]", "p99", "floor p99", "ms"),
        ("cold read latest [ms]", "read", "floor read", "ms"),
        (f"cold read as of step {at} [ms]", "step", "floor step", "ms"),
    ]
    if server is None:
        rows_out.insert(3, ("bytes on disk", "bytes", "floor bytes", "B"))
    scalars = f" and {args.scalars} scalars" if args.scalars else ""
    print(f"{args.steps:,} steps x {PER_STEP} rows{scalars} on {store.name}, {args.repeats} "
          "repeats (median (min-max)); ratios are medians over the floor's")  # fmt: skip
    shown = [v for v in VARIANTS if f"{v} total" in got]
    print("| row | floor | " + " | ".join(f"{VARIANT_NAMES[v]} | ratio" for v in shown) + " |")
    print("|---|---:|" + "---:|---:|" * len(shown))
    for label, key, floor, unit in rows_out:
        cells = [f"{cell(f'{v} {key}', unit)} | {ratio(f'{v} {key}', floor)}" for v in shown]
        print(f"| {label} | {cell(floor, unit)} | " + " | ".join(cells) + " |")
    print("| versions | - | " + " | ".join(f"{cell(f'{v} versions', 'n')} |" for v in shown) + " |")
    for fv, r in history:
        if "wall" in r.name or "CPU" in r.name:
            print(
                f"| format {fv}: {r.name} | {r.tablelog:.3f} s vs {r.floor:.3f} s: {r.ratio:.2f}x |"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "values": got}, indent=2))


if __name__ == "__main__":
    main()
