"""What one small GET costs the client process, by S3 client (docs/speed.md, "What one
request costs the reader").

Run it (not a pytest test)::

    python tests/benchmarks/bench_s3_client.py [--requests N]

Starts its own SeaweedFS (tests/servers.py) in a temp dir and, for each client, sends
``--requests`` requests in a row (default 200) after a warm-up, and prints the wall time
and the CPU time of this process (``time.process_time``: the server is another process)
per request. The clients: tablelog's store (s3fs: a ranged GET, as the hint is read, and
three in parallel, as the hint check fetches manifests ``n - 1``, ``n`` and ``n + 1``,
two of them absent), boto3, pyarrow's ``S3FileSystem``, and an unsigned GET that the
server refuses, which is the server's own turnaround.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

from tablelog.objects import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import start_seaweedfs

BUCKET = "bench"


def per_request(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """(wall ms, CPU ms of this process) per call of ``fn``, after 10 warm-up calls."""
    for _ in range(10):
        fn()
    w, c = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - w) / n * 1000, (time.process_time() - c) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tablelog-bench-client-"))
    server = start_seaweedfs(base / "weed")
    try:
        server.create_bucket(BUCKET)
        so = server.storage_options()
        store = open_store(f"s3://{BUCKET}/t", storage_options=so)
        store.put("m.json", os.urandom(3000))  # about a manifest's size
        client = server.client()
        arrow = pafs.S3FileSystem(
            access_key=server.key,
            secret_key=server.secret,
            endpoint_override=server.endpoint_url,
            scheme="http",
            region=server.region,
        )

        def arrow_get() -> None:
            with arrow.open_input_file(f"{BUCKET}/t/m.json") as f:
                f.read_at(64, 0)

        url = urlparse(server.endpoint_url)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)

        def unsigned() -> None:
            conn.request("GET", f"/{BUCKET}/t/m.json")
            reply = conn.getresponse()
            reply.read()
            assert reply.status == 403, reply.status

        cases: list[tuple[str, Callable[[], Any], int]] = [
            ("s3fs (tablelog's store), ranged GET", lambda: store.get_range("m.json", 0, 64), 1),
            (
                "s3fs (tablelog's store), 3 GETs in parallel, 2 absent",
                lambda: store.get_many_or_none(["m.json", "absent-1", "absent-2"]),
                3,
            ),
            (
                "boto3, ranged GET",
                lambda: client.get_object(Bucket=BUCKET, Key="t/m.json", Range="bytes=0-63")[
                    "Body"
                ].read(),
                1,
            ),
            ("pyarrow S3FileSystem, open + read", arrow_get, 1),
            ("unsigned GET, refused (403): the server alone", unsigned, 1),
        ]
        print(f"SeaweedFS on loopback, {args.requests} calls each; per call:")
        print("| client | requests per call | wall ms | CPU ms of the client |")
        print("|---|---:|---:|---:|")
        for name, fn, reqs in cases:
            wall, cpu = per_request(fn, args.requests)
            print(f"| {name} | {reqs} | {wall:.2f} | {cpu:.2f} |", flush=True)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
