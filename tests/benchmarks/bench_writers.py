"""Many writers on one INCREMENTAL table: commit throughput, p99 latency, conflicts.

Run it (not a pytest test)::

    python tests/benchmarks/bench_writers.py [--writers 1,4,16,64] [--logs 20]
        [--interval 0] [--separate | --sharded] [--json PATH]

Starts its own SeaweedFS (``weed mini``, as tests/servers.py does) in a temp dir. For
each writer count W it makes a fresh bucket and starts W OS processes, each a separate
writer identity (``<host>:<pid>:<8 hex>``) with its own store handle. Every process
logs ``--logs`` one-row increments to the same table ``p/bench/shared``, exactly as a
``Run`` commits a log: encode the rows as Parquet, upload the object, then
``format.commit.commit`` (create ``versions/<n+1>.json`` if absent; on "taken"
refresh, re-plan, retry with jittered backoff). Between its logs a writer keeps the
state of its last commit, as ``Run`` does, and waits ``--interval`` seconds (0: back
to back, the saturating case). All processes start on a common signal after their
imports. ``--separate`` gives each writer its own table instead (its own chain, no
contention): the bound a per-writer-shard design could reach on the same machine.
``--sharded`` makes ``shared`` a sharded table: each writer commits to its own shard
chain (``_shard/w<NNN>/shared``, as ``init(shard=...)`` does), and the check reads the
union back with ``tablelog.scan("p/bench/shared")``.
``--refresh-first`` refreshes the state (one ordered LIST) before every commit, to
measure how much of the conflict count is the stale first attempt.
``--latency SCALE`` puts the loopback fault proxy (tests/faultproxy.py) between the
writers and SeaweedFS, in its own process, delaying every request by the emulated S3
latency of its kind (``S3_LATENCY`` times SCALE; 0: the proxy without delay, to measure
its overhead). The model of docs/scaling.md is evaluated at the same latencies and
printed beside each measurement (``model_commits_per_s``).

Measured per W: commits/s (all commits / time from the first commit's start to the
last one's end), p50 / p99 / max commit latency (upload + commit, per ``log``),
conflicts per commit (manifest creates refused because another writer took the
version: counted by a store subclass, no change to tablelog), store calls per commit,
and a check that the table holds every row exactly once and the chain is linear.

On a small machine the W processes and SeaweedFS share the same cores; the output
prints ``os.cpu_count()`` so numbers are read with that in mind.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from servers import S3Server, start_seaweedfs

#: Client CPU per commit (Parquet encode, plan, sign, parse) added to the model's
#: latencies: the W=1 commit time without emulated latency on this machine (~8 ms).
MODEL_CPU_S = 0.008

BUCKET_PREFIX = "writers"
PROJECT, RUN = "p", "bench"


# -- child: one writer process --------------------------------------------------------


def child(root: str, key: str, name: str, logs: int, interval: float, refresh_first: bool) -> None:
    import pyarrow as pa

    from tablelog.data.groups import upload_group
    from tablelog.errors import CommitConflictError, StoreError
    from tablelog.format.chain import TableRef, refresh
    from tablelog.format.commit import commit
    from tablelog.format.manifest import Column
    from tablelog.format.plan import Intent, NewFragment
    from tablelog.format.state import TableState
    from tablelog.objects.fsspec_store import FsspecStore

    class CountingStore(FsspecStore):
        """The real S3 store, counting calls and refused manifest creates."""

        def __init__(self, url: str) -> None:
            super().__init__(url)
            self.calls = 0
            self.taken = 0
            self.unknown = 0

        def put_if_absent(self, key: str, data: bytes) -> bool:
            self.calls += 1
            try:
                created = super().put_if_absent(key, data)
            except StoreError:
                # e.g. 409 ConditionalRequestConflict: two creates of one key in flight
                self.unknown += 1
                raise
            if not created and "/versions/" in key:
                self.taken += 1
            return created

        def get(self, key: str) -> bytes:
            self.calls += 1
            return super().get(key)

        def get_many(self, keys: list[str]) -> list[bytes]:
            self.calls += len(keys)
            return super().get_many(keys)

        def exists(self, key: str) -> bool:
            self.calls += 1
            return super().exists(key)

        def list_page(self, prefix: str, **kwargs: Any) -> Any:
            self.calls += 1
            return super().list_page(prefix, **kwargs)

    store = CountingStore(root)
    ref = TableRef(store, PROJECT, RUN, key)
    writer = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"  # as Run does
    schema = (
        Column(name="writer", kind="str", arrow="string"),
        Column(name="i", kind="number", arrow="int64"),
    )
    state = refresh(ref, TableState())
    # Warm up (client set-up, lazy imports: ~2 s per process on 2 cores), not measured.
    # The object is the same for every writer and referenced by no version.
    upload_group(ref, pa.table({"warm-up": [0]}))
    print("ready", flush=True)
    sys.stdin.readline()  # the common start signal
    latencies, starts, ends, conflicts, uploads, gave_up = [], [], [], [], [], []
    calls0 = store.calls
    for i in range(logs):
        if i and interval:
            time.sleep(interval)
        taken0 = store.taken
        t0 = time.time()
        rows = pa.table({"writer": [name], "i": [i]})
        group = upload_group(ref, rows)
        uploads.append(time.time() - t0)
        intent = Intent(
            mode="INCREMENTAL",
            writer=writer,
            step=i,
            schema=schema,
            add=(NewFragment(rows=1, groups=(group,)),),
            extra=(("log", f"{name}-{i}"),),
        )
        if refresh_first:
            state = refresh(ref, state)  # one ordered LIST (+ new manifests) first
        try:
            state = commit(ref, state, intent)
        except CommitConflictError:
            # The commit's time budget (300 s) ran out: other writers kept winning.
            gave_up.append(time.time() - t0)
            continue
        t1 = time.time()
        starts.append(t0)
        ends.append(t1)
        latencies.append(t1 - t0)
        conflicts.append(store.taken - taken0)
    print(
        json.dumps(
            {
                "latencies": latencies,
                "uploads": uploads,
                "starts": starts,
                "ends": ends,
                "conflicts": conflicts,
                "calls": store.calls - calls0,
                "unknown": store.unknown,
                "gave_up": gave_up,
            }
        ),
        flush=True,
    )


# -- the proxy, in its own process (its threads do not share the parent's GIL) --------


def proxy_child(upstream: str, scale: float) -> None:
    from faultproxy import FaultProxy, request_kind

    proxy = FaultProxy(upstream)
    if scale > 0:
        proxy.emulate_latency(scale=scale)
    print(proxy.endpoint_url, flush=True)
    for line in sys.stdin:  # "stats": requests per kind and seconds slept since the last
        reqs = proxy.snapshot()
        proxy.reset()
        kinds: dict[str, int] = {}
        for r in reqs:
            kinds[request_kind(r)] = kinds.get(request_kind(r), 0) + 1
        stats = {"requests": kinds, "emulated_s": round(sum(r.emulated for r in reqs), 3)}
        print(json.dumps(stats) if line.strip() == "stats" else "?", flush=True)
    proxy.close()


class Proxy:
    """The fault proxy in a child process, in front of ``server``."""

    def __init__(self, server: S3Server, scale: float) -> None:
        self.scale = scale
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--proxy-child", server.endpoint_url, str(scale)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"the proxy did not start: {self.url!r}")

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        stats: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return stats

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def mean_latency(kind: str, scale: float) -> float:
    """The mean of the emulated log-normal latency of a request kind (seconds)."""
    import math

    from faultproxy import S3_LATENCY

    d = S3_LATENCY[kind]
    if scale <= 0:
        return 0.0
    sigma = math.log(d.p99 / d.median) / 2.326
    return scale * d.median * math.exp(sigma * sigma / 2)


def model_rate(writers: int, scale: float, *, chained: bool) -> float:
    """docs/scaling.md's model at the emulated latencies: a writer's commit costs its two
    PUTs (object, manifest) plus client CPU, ``c1``; W separate chains give ``W / c1``;
    one shared chain gives at most ``μ = 1/c``, its critical section ``c`` being a LIST,
    a GET of the new manifest and the PUT of the next (plus CPU)."""
    put, get, lst = (mean_latency(k, scale) for k in ("PUT", "GET", "LIST"))
    c1 = 2 * put + MODEL_CPU_S
    if not chained or writers == 1:
        return writers / c1
    return min(writers / c1, 1 / (lst + get + put + MODEL_CPU_S))


# -- parent ---------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(
    server: S3Server,
    writers: int,
    logs: int,
    interval: float,
    *,
    separate: bool,
    sharded: bool = False,
    refresh_first: bool = False,
    proxy: Proxy | None = None,
) -> dict[str, Any]:
    import tablelog
    from tablelog.format.chain import TableRef, latest_version, read_history
    from tablelog.format.paths import shard_key
    from tablelog.objects import open_store

    if sharded:
        keys = [shard_key(f"w{w:03d}", "shared") for w in range(writers)]
    else:
        keys = [f"own-{w}" for w in range(writers)] if separate else ["shared"]

    bucket = f"{BUCKET_PREFIX}-{writers}-{os.getpid()}"
    server.create_bucket(bucket)
    root = f"s3://{bucket}/t"
    via = server  # the writers (and the checks) talk to the store through the proxy
    if proxy is not None:
        via = dataclasses.replace(server, endpoint_url=proxy.url, _stop=None)
    env = {**os.environ, **via.env()}
    so = via.storage_options()
    tablelog.init(project=PROJECT, id=RUN, root=root, storage_options=so).finish()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                root,
                keys[w % len(keys)],
                f"w{w}",
                str(logs),
                str(interval),
                "1" if refresh_first else "0",
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        if proxy is not None:
            proxy.stats()  # forget the set-up and warm-up requests
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = []
        for p in procs:
            out, _ = p.communicate(timeout=3600)
            if p.returncode != 0:
                raise RuntimeError(f"a writer exited with {p.returncode}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    requests = proxy.stats() if proxy is not None else None
    lat = [x for o in outs for x in o["latencies"]]
    conflicts = [x for o in outs for x in o["conflicts"]]
    up = [x for o in outs for x in o["uploads"]]
    first = min(s for o in outs for s in o["starts"])
    last = max(e for o in outs for e in o["ends"])
    commits = len(lat)
    gave_up = sum(len(o["gave_up"]) for o in outs)
    # Every row exactly once, one linear chain of `commits` versions.
    exact = linear = True
    streaks = 0  # maximal runs of consecutive versions committed by one writer
    for key in keys:
        df = tablelog.scan(f"{PROJECT}/{RUN}/{key}", root=root, storage_options=so).collect()
        n = commits // len(keys)
        exact = exact and df.height == n and df.select("writer", "i").n_unique() == n
        ref = TableRef(open_store(root, storage_options=so), PROJECT, RUN, key)
        history = read_history(ref, latest_version(ref))
        parent, linear = None, linear and len(history) == n
        for v, (m, digest) in enumerate(history):
            linear = linear and m.version == v and m.parent == parent
            parent = digest
            streaks += v == 0 or m.writer != history[v - 1][0].writer
    if sharded:  # the shards read back as one table: every row exactly once
        df = tablelog.scan(f"{PROJECT}/{RUN}/shared", root=root, storage_options=so).collect()
        exact = exact and df.height == commits and df.select("writer", "i").n_unique() == commits
    server.delete_bucket(bucket)
    scale = proxy.scale if proxy is not None else None
    return {
        "writers": writers,
        "tables": len(keys),
        "sharded": sharded,
        "logs_per_writer": logs,
        "interval_s": interval,
        "refresh_first": refresh_first,
        "commits": commits,
        "gave_up": gave_up,
        "seconds": round(last - first, 3),
        "commits_per_s": round(commits / (last - first), 2),
        "latency_p50_ms": round(1000 * statistics.median(lat), 1),
        "latency_p99_ms": round(1000 * _pct(lat, 0.99), 1),
        "latency_max_ms": round(1000 * max(lat), 1),
        "upload_p50_ms": round(1000 * statistics.median(up), 1),
        "upload_max_ms": round(1000 * max(up), 1),
        "conflicts_per_commit": round(sum(conflicts) / commits, 2),
        "conflicts_max": max(conflicts),
        "store_calls_per_commit": round(sum(o["calls"] for o in outs) / commits, 1),
        # > 1: a writer that just won keeps winning while the others back off
        "mean_streak": round(commits / max(1, streaks), 2),
        "store_errors_per_commit": round(sum(o["unknown"] for o in outs) / commits, 2),
        "rows_exactly_once": exact,
        "chain_linear": linear,
        "latency_scale": scale,
        # requests the writers made through the proxy, per kind, and the time they slept
        "proxy_requests": requests,
        "model_commits_per_s": None
        if scale is None
        else round(model_rate(writers, scale, chained=not (sharded or separate)), 1),
    }


def markdown(results: list[dict[str, Any]]) -> str:
    head = (
        "| writers | tables | commits (gave up) | commits/s | p50 ms | p99 ms | max ms "
        "| conflicts/commit | max conflicts | store calls/commit | create errors/commit "
        "| rows once, chain linear |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
    )
    rows = [
        f"| {r['writers']} | {r['tables']} | {r['commits']} ({r['gave_up']}) "
        f"| {r['commits_per_s']} "
        f"| {r['latency_p50_ms']} "
        f"| {r['latency_p99_ms']} | {r['latency_max_ms']} | {r['conflicts_per_commit']} "
        f"| {r['conflicts_max']} | {r['store_calls_per_commit']} "
        f"| {r['store_errors_per_commit']} "
        f"| {'yes' if r['rows_exactly_once'] and r['chain_linear'] else 'NO'} |"
        for r in results
    ]
    return head + "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writers", default="1,4,16,64", help="comma-separated writer counts")
    ap.add_argument("--logs", type=int, default=20, help="logs per writer")
    ap.add_argument("--interval", type=float, default=0.0, help="seconds between a writer's logs")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument(
        "--separate",
        action="store_true",
        help="each writer its own table (own chain, no contention): the bound shards could reach",
    )
    ap.add_argument(
        "--sharded",
        action="store_true",
        help="one sharded table: each writer commits to its own shard chain",
    )
    ap.add_argument(
        "--refresh-first",
        action="store_true",
        help="refresh the table state before each commit (not what Run does today)",
    )
    ap.add_argument(
        "--latency",
        type=float,
        help="through the fault proxy with S3 latency emulation times this (0: no delay)",
    )
    ap.add_argument("--proxy-child", nargs=2, metavar=("UPSTREAM", "SCALE"))
    ap.add_argument("--child", nargs=6, metavar=("ROOT", "KEY", "NAME", "LOGS", "INTERVAL", "R"))
    args = ap.parse_args()
    if args.child:
        root, key, name, logs, interval, refresh_first = args.child
        child(root, key, name, int(logs), float(interval), refresh_first == "1")
        return
    if args.proxy_child:
        proxy_child(args.proxy_child[0], float(args.proxy_child[1]))
        return
    counts = [int(x) for x in args.writers.split(",")]
    print(f"{platform.platform()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        server = start_seaweedfs(tmp)
        proxy = None if args.latency is None else Proxy(server, args.latency)
        try:
            results = []
            for w in counts:
                r = measure(
                    server,
                    w,
                    args.logs,
                    args.interval,
                    separate=args.separate,
                    sharded=args.sharded,
                    refresh_first=args.refresh_first,
                    proxy=proxy,
                )
                print(json.dumps(r), flush=True)
                results.append(r)
        finally:
            if proxy is not None:
                proxy.close()
            server.stop()
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
