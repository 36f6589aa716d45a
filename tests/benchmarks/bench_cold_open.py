"""Cold opens on S3 (a local SeaweedFS), with and without the latest-version hint (#18).

Run it (not a pytest test)::

    python tests/benchmarks/bench_cold_open.py [--quick] [--repeats N] [--json PATH]

Starts its own SeaweedFS (``weed mini``, tests/servers.py) in a temp dir, measures, and
stops it. "Cold" is a reader in a new process: the in-process table state cache
(``chain.STATES``) is cleared before each timed open; the store's S3 client is reused,
as it is within a process (``open_store`` caches it).

1. Find the newest version of an INCREMENTAL table of 10, 100 and 1,000 versions (10 rows
   each): requests (counted by the fault proxy, tests/faultproxy.py) and time, with the
   hint the writer wrote (copies of the newest two manifests), with a plain hint (the
   version only, as writers wrote it before the copies) and without one (deleted),
   interleaved. Also the whole open (``scan`` before ``collect``: the newest version's
   state).
2. The same 1,000-step table (10,000 rows) compacted: a cold ``scan(...).collect()`` with
   each of those hints, against one ``pl.scan_parquet`` of the same objects (the floor,
   ``tablelog.files``), interleaved. Target (issue 18): <= 2x the floor.
3. The writer: an INCREMENTAL loop of 1,000 x 10 rows incl. ``finish()`` on SeaweedFS and
   on a local folder, with the commit thread writing hints and with it not writing them
   (``run.HINT_EVERY_S`` set to infinity; finish() still writes one per table),
   interleaved, and the PUTs one loop sends, by kind.

Medians (and min..max) of ``--repeats`` runs (default 15 for reads, 5 for loops; 5 and 3
with ``--quick``, which also writes 100 rather than 1,000 steps in case 3). ``--json``
appends this run to the file's ``runs``, so that it holds the spread across runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from bench_core import COLUMNS, make_frame, python_rows

import tablelog
import tablelog.writer.run as run_module
from tablelog.format import chain
from tablelog.format.chain import STATES, TableRef, latest_version
from tablelog.format.hint import encode_hint, parse_hint
from tablelog.objects import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from faultproxy import FaultProxy
from servers import S3Server, start_seaweedfs

BUCKET = "bench"
PER_STEP = 10
SIZES = (10, 100, 1000)


def spread(values: list[float], scale: float = 1.0) -> dict[str, float]:
    """Median, min and max of ``values`` times ``scale`` (ms: 1000), and how many."""
    v = [x * scale for x in values]
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class Bench:
    def __init__(self, server: S3Server, proxy: FaultProxy) -> None:
        self.server, self.proxy = server, proxy
        self.so = server.storage_options()
        self.pso = server.polars_storage_options()
        self.proxied = proxy.storage_options(server.key, server.secret, server.region)
        server.create_bucket(BUCKET)

    def root(self, name: str) -> str:
        return f"s3://{BUCKET}/{name}"

    def requests(self, fn: Callable[[], Any], opts: dict[str, Any]) -> dict[str, Any]:
        """The requests ``fn`` sends through the proxy (``opts``: the proxied options).
        Counted with the reader taking the store for a near one (``chain.NEAR_STORE_S``),
        as the timed reads, which do not go through the proxy, do (``HintChecks``): the
        proxy runs in this process and slows the hint's GET past that threshold."""
        self.proxy.reset()
        near = chain.NEAR_STORE_S
        chain.NEAR_STORE_S = math.inf
        try:
            fn()
        finally:
            chain.NEAR_STORE_S = near
        reqs = self.proxy.snapshot()
        kinds = Counter(
            "LIST" if "list-type" in r.query else f"{r.method} {r.status}" for r in reqs
        )
        return {"total": len(reqs), "by_kind": dict(sorted(kinds.items()))}


class HintChecks(logging.Handler):
    """Counts how readers checked hints ("listing" or "fetching", from chain's debug
    log), so that the results say which way the timed reads went."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.ways: Counter[str] = Counter()
        log = logging.getLogger("tablelog")
        log.addHandler(self)
        log.setLevel(logging.DEBUG)
        log.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if " checked by " in msg:
            self.ways[msg.split(" checked by ", 1)[1].split(",")[0]] += 1

    def take(self) -> dict[str, int]:
        out = dict(sorted(self.ways.items()))
        self.ways.clear()
        return out


CHECKS = HintChecks()


def wait_for_hint(ref: TableRef, version: int, timeout: float = 10.0) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        try:
            hint = parse_hint(ref.store.get(ref.hint_key))
            if hint is not None and hint.version == version:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the commit thread did not write hint {version}")


def hint_variants(hint: bytes) -> dict[str, bytes | None]:
    """The hint a writer wrote (with copies of the newest manifests), the same version
    without copies (as writers before the copies wrote it), and none."""
    parsed = parse_hint(hint)
    assert parsed is not None and parsed.copies, hint[:200]
    return {"hint": hint, "plain hint": encode_hint(parsed.version), "no hint": None}


def put_hint(ref: TableRef, hint: bytes | None) -> None:
    if hint is None:
        ref.store.delete(ref.hint_key)
    else:
        ref.store.put(ref.hint_key, hint)


def bench_open(b: Bench, reps: int) -> tuple[dict[str, Any], str, str]:
    """Case 1; returns its results, and the table's root and path for case 2."""
    root = b.root("open")
    run = tablelog.init(project="bench", root=root, storage_options=b.so)
    path = f"bench/{run.id}/inc"
    rows = python_rows(make_frame(SIZES[-1] * PER_STEP, PER_STEP), py_floats=False)
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    direct = TableRef(open_store(root, storage_options=b.so), "bench", run.id, "inc")
    proxied = TableRef(open_store(root, storage_options=b.proxied), "bench", run.id, "inc")
    out: dict[str, Any] = {}
    written = 0
    for n in SIZES:
        for s in range(written, n):
            for row in rows[s * PER_STEP : (s + 1) * PER_STEP]:
                table.add_data(*row)
            run.log({"inc": table}, step=s)
            run.flush()  # (one version per log: case 1 opens tables of n versions)
        written = n
        wait_for_hint(direct, n - 1)
        variants = hint_variants(direct.store.get(direct.hint_key))
        case: dict[str, Any] = {}
        for label, hint in variants.items():

            def setup(hint: bytes | None = hint) -> None:
                put_hint(direct, hint)
                STATES.clear()

            setup()
            find = b.requests(lambda: latest_version(proxied), b.proxied)
            setup()
            whole = b.requests(
                lambda: tablelog.scan(path, root=root, storage_options=b.proxied), b.proxied
            )
            case[label] = {"find requests": find, "open requests": whole}
        times: dict[str, list[float]] = {label: [] for label in variants}
        opens: dict[str, list[float]] = {label: [] for label in variants}
        ways: dict[str, Counter[str]] = {label: Counter() for label in variants}
        CHECKS.take()
        for _ in range(reps):
            for label, hint in variants.items():
                put_hint(direct, hint)
                STATES.clear()
                times[label].append(timed(lambda: latest_version(direct)))
                STATES.clear()
                opens[label].append(
                    timed(lambda: tablelog.scan(path, root=root, storage_options=b.so))
                )
                ways[label].update(CHECKS.take())
        put_hint(direct, variants["hint"])
        for label in times:
            case[label]["find ms"] = spread(times[label], 1000)
            case[label]["open ms"] = spread(opens[label], 1000)
            case[label]["hint checked by"] = dict(sorted(ways[label].items()))
        out[f"{n} versions"] = case
        print(
            f"{n:>5} versions: find newest / open (scan) with "
            + "; ".join(
                f"{label} {case[label]['find requests']['total']} requests "
                f"{case[label]['find ms']['median']:.1f} ms / "
                f"{case[label]['open requests']['total']} requests "
                f"{case[label]['open ms']['median']:.1f} ms"
                for label in variants
            ),
            flush=True,
        )
    run.finish()
    return out, root, path


def bench_compacted_read(b: Bench, root: str, path: str, reps: int) -> dict[str, Any]:
    """Case 2."""
    done = tablelog.compact(path, root=root, storage_options=b.so)
    assert done.compacted and done.version is not None, done
    project, run_id, key = path.split("/", 2)
    ref = TableRef(open_store(root, storage_options=b.so), project, run_id, key)
    variants = hint_variants(ref.store.get(ref.hint_key))
    parsed = parse_hint(ref.store.get(ref.hint_key))
    assert parsed is not None and parsed.version == done.version, parsed
    urls, _schema = tablelog.files(path, root=root, storage_options=b.so)

    def floor() -> pl.DataFrame:
        return pl.scan_parquet(urls, storage_options=b.pso).collect()

    def read(hint: bytes | None) -> pl.DataFrame:
        put_hint(ref, hint)
        STATES.clear()
        t0 = time.perf_counter()
        df = tablelog.scan(path, root=root, storage_options=b.so).collect()
        took.append(time.perf_counter() - t0)
        return df

    expected = floor()
    assert expected.height == SIZES[-1] * PER_STEP
    samples: dict[str, list[float]] = {"floor": [], **{label: [] for label in variants}}
    took: list[float] = []
    ways: dict[str, Counter[str]] = {label: Counter() for label in variants}
    CHECKS.take()
    for _ in range(reps):  # interleaved: the floor, then each hint
        samples["floor"].append(timed(floor))
        for label, hint in variants.items():
            assert read(hint).height == expected.height
            samples[label].append(took.pop())
            ways[label].update(CHECKS.take())
    opts = b.proxied
    reqs: dict[str, Any] = {}
    for label, hint in variants.items():
        put_hint(ref, hint)
        STATES.clear()
        reqs[label] = b.requests(lambda: tablelog.scan(path, root=root, storage_options=opts), opts)
    put_hint(ref, variants["hint"])
    floor_ms = statistics.median(samples["floor"]) * 1000
    out: dict[str, Any] = {
        "rows": expected.height,
        "objects": len(urls),
        "version": done.version,
        "floor ms": spread(samples["floor"], 1000),
        "target ratio": 2.0,
    }
    for label in variants:
        out[f"{label} ms"] = spread(samples[label], 1000)
        out[f"{label} ratio"] = statistics.median(samples[label]) * 1000 / floor_ms
        # Ratios of each interleaved set: their spread across runs.
        out[f"{label} ratio per run"] = spread(
            [h / f for h, f in zip(samples[label], samples["floor"], strict=True)]
        )
        out[f"open requests ({label})"] = reqs[label]
        out[f"hint checked by ({label})"] = dict(sorted(ways[label].items()))
    print(
        f"compacted {expected.height:,} rows ({len(urls)} object, version {done.version}): "
        f"floor {floor_ms:.1f} ms; "
        + "; ".join(
            f"{label} {out[f'{label} ms']['median']:.1f} ms ({out[f'{label} ratio']:.2f}x, "
            f"{reqs[label]['total']} requests to open; checked by "
            f"{out[f'hint checked by ({label})'] or 'nothing'})"
            for label in variants
        ),
        flush=True,
    )
    return out


def loop(root: str, opts: dict[str, Any] | None, rows: list[tuple[Any, ...]], steps: int) -> float:
    t0 = time.perf_counter()
    run = tablelog.init(project="bench", root=root, storage_options=opts)
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    for s in range(steps):
        for row in rows[s * PER_STEP : (s + 1) * PER_STEP]:
            table.add_data(*row)
        run.log({"inc": table}, step=s)
    run.finish()
    return time.perf_counter() - t0


def bench_writer(b: Bench, local_base: Path, steps: int, reps: int) -> dict[str, Any]:
    """Case 3."""
    rows = python_rows(make_frame(steps * PER_STEP, PER_STEP, seed=1), py_floats=False)
    every = (run_module.HINT_EVERY_S, run_module.HINT_BUSY_EVERY_S)
    out: dict[str, Any] = {"steps": steps, "rows per step": PER_STEP}
    for where in ("seaweedfs", "local"):
        samples: dict[str, list[float]] = {"hints": [], "no hints": []}
        for i in range(reps):
            for label in ("hints", "no hints"):
                if label == "no hints":
                    run_module.HINT_EVERY_S = run_module.HINT_BUSY_EVERY_S = math.inf
                try:
                    if where == "local":
                        root, opts = str(local_base / f"w-{label}-{i}"), None
                    else:
                        root, opts = b.root(f"w-{label.replace(' ', '-')}-{i}"), b.so
                    samples[label].append(loop(root, opts, rows, steps))
                finally:
                    run_module.HINT_EVERY_S, run_module.HINT_BUSY_EVERY_S = every
        out[where] = {
            "hints s": spread(samples["hints"]),
            "no hints s": spread(samples["no hints"]),
            "ratio": statistics.median(samples["hints"]) / statistics.median(samples["no hints"]),
        }
        print(
            f"writer {steps:,} x {PER_STEP} on {where}: with hints "
            f"{out[where]['hints s']['median']:.2f} s, without "
            f"{out[where]['no hints s']['median']:.2f} s ({out[where]['ratio']:.3f}x)",
            flush=True,
        )
    # One loop through the proxy: what it sends, by kind.
    sent = b.requests(lambda: loop(b.root("w-counted"), b.proxied, rows, steps), b.proxied)
    hints = [r for r in b.proxy.snapshot() if r.key.endswith("/_latest.json")]
    out["seaweedfs requests of one loop"] = sent
    out["seaweedfs hint PUTs of one loop"] = len(hints)
    print(f"one loop sends {sent['total']} requests, {len(hints)} of them hint PUTs", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, 100-step writer loop")
    ap.add_argument("--repeats", type=int, help="repeats of each read (default 15, quick 5)")
    ap.add_argument("--json", help="write the results as JSON to this path")
    args = ap.parse_args()
    reps = args.repeats or (5 if args.quick else 15)
    loop_reps, steps = (3, 100) if args.quick else (5, 1000)
    base = Path(tempfile.mkdtemp(prefix="tablelog-bench-cold-"))
    server = start_seaweedfs(base / "weed")
    try:
        with FaultProxy(server.endpoint_url) as proxy:
            b = Bench(server, proxy)
            opened, root, path = bench_open(b, reps)
            read = bench_compacted_read(b, root, path, reps)
            writer = bench_writer(b, base / "local", steps, loop_reps)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        versions = {m.__name__: m.__version__ for m in (tablelog, pl)}
        meta = {
            "repeats": reps,
            "loop repeats": loop_reps,
            "quick": args.quick,
            "versions": versions,
            "python": platform.python_version(),
            "os": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        result = {"meta": meta, "open newest": opened, "compacted read": read, "writer": writer}
        # One file holds every run (the spread across runs); a new run is appended.
        target = Path(args.json)
        runs = json.loads(target.read_text())["runs"] if target.exists() else []
        target.write_text(json.dumps({"runs": [*runs, result]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
