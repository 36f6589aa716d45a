"""The latency-emulating fault proxy's own cost: is it ever the bottleneck?

Run it (not a pytest test)::

    python tests/benchmarks/bench_proxy.py [--requests 300] [--threads 64]

Starts SeaweedFS and the proxy in its own process exactly as ``bench_writers.py
--latency`` does, then with one boto3 client (path-style, as s3fs signs):

1. sequential small PUTs and GETs, directly and through the proxy without delay: the
   proxy's added latency per request (p50), and its CPU per request (the proxy
   process's user+system time from /proc);
2. ``--threads`` threads each doing small PUTs at once, directly and through the proxy
   without delay: requests/s (does the proxy cap the rate 64 writers need?);
3. the same through the proxy with the S3 emulation: the p50 per kind against the
   emulated median plus the direct time, and the proxy's CPU per request (the sleep
   must cost none).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_writers import Proxy
from faultproxy import S3_LATENCY
from servers import S3Server, _boto_client, start_seaweedfs


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client(server: S3Server, url: str) -> Any:
    return _boto_client(url, server.key, server.secret, server.region, max_pool_connections=128)


def sequential(s3: Any, bucket: str, n: int) -> dict[str, float]:
    body = b"x" * 600  # a manifest's size
    put, get, head, lst = [], [], [], []
    for i in range(n):
        t0 = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=f"seq/{i}", Body=body)
        t1 = time.perf_counter()
        s3.get_object(Bucket=bucket, Key=f"seq/{i}")["Body"].read()
        t2 = time.perf_counter()
        s3.head_object(Bucket=bucket, Key=f"seq/{i}")
        t3 = time.perf_counter()
        if i % 10 == 0:
            s3.list_objects_v2(Bucket=bucket, Prefix="seq/", MaxKeys=100)
            lst.append(time.perf_counter() - t3)
        put.append(t1 - t0)
        get.append(t2 - t1)
        head.append(t3 - t2)
    ms = 1000
    return {
        "PUT": statistics.median(put) * ms,
        "GET": statistics.median(get) * ms,
        "HEAD": statistics.median(head) * ms,
        "LIST": statistics.median(lst) * ms,
    }


def concurrent(s3: Any, bucket: str, threads: int, each: int) -> float:
    def one(t: int) -> None:
        for i in range(each):
            s3.put_object(Bucket=bucket, Key=f"par/{t}/{i}", Body=b"y" * 600)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(threads)))
    return threads * each / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--threads", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_seaweedfs(tmp)
        bare = Proxy(server, 0.0)
        s3emu = Proxy(server, 1.0)
        try:
            server.create_bucket("proxy-bench")
            direct = client(server, server.endpoint_url)
            via = client(server, bare.url)
            emu = client(server, s3emu.url)
            sequential(direct, "proxy-bench", 20)  # warm-up
            sequential(via, "proxy-bench", 20)
            bare.stats()
            d = sequential(direct, "proxy-bench", args.requests)
            cpu0 = cpu_seconds(bare.proc.pid)
            p = sequential(via, "proxy-bench", args.requests)
            n_bare = sum(bare.stats()["requests"].values())
            cpu_bare = (cpu_seconds(bare.proc.pid) - cpu0) / n_bare
            print("sequential, p50 ms per request: direct / through the proxy (no delay)")
            for k in d:
                print(f"  {k:4} {d[k]:6.2f} / {p[k]:6.2f}  (+{p[k] - d[k]:.2f})")
            print(f"  proxy CPU per request: {1000 * cpu_bare:.2f} ms")
            each = 20
            rd = concurrent(direct, "proxy-bench", args.threads, each)
            rp = concurrent(via, "proxy-bench", args.threads, each)
            print(f"{args.threads} threads x {each} PUTs: direct {rd:.0f}/s, proxy {rp:.0f}/s")
            s3emu.stats()
            cpu0 = cpu_seconds(s3emu.proc.pid)
            n = max(50, args.requests // 3)
            e = sequential(emu, "proxy-bench", n)
            st = s3emu.stats()
            cpu_emu = (cpu_seconds(s3emu.proc.pid) - cpu0) / sum(st["requests"].values())
            print("S3 emulation, p50 ms: measured vs emulated median + direct")
            for k in e:
                print(f"  {k:4} {e[k]:7.2f} vs {1000 * S3_LATENCY[k].median + d[k]:7.2f}")
            print(f"  proxy CPU per request: {1000 * cpu_emu:.2f} ms, slept {st['emulated_s']} s")
            re = concurrent(emu, "proxy-bench", args.threads, 5)
            print(
                f"{args.threads} threads x 5 PUTs with emulation: {re:.0f}/s "
                f"(all waits concurrent: ~{args.threads / (S3_LATENCY['PUT'].median):.0f}/s "
                "if only the emulated median limited it)"
            )
        finally:
            bare.close()
            s3emu.close()
            server.stop()


if __name__ == "__main__":
    main()
