"""Opening a table of many shards behind emulated S3 latency: time and requests.

    python tests/benchmarks/bench_shards_open.py [--shards 256] [--latency 1] [--repeat 3]

Starts SeaweedFS and writes table ``p/job/eval`` as ``--shards`` shards (one ``Run``
per shard, ``init(shard=...)``, two logs each), directly. Then, through the fault
proxy with the S3 latency emulation (tests/faultproxy.py, ``S3_LATENCY`` times
``--latency``), each repeat opens the table in a fresh process (no state remembered):
``tablelog.scan("p/job/eval")`` (the lazy frame: shards found, each shard's newest
version found and its manifest read) and then collects it. Printed: open and collect
seconds, and the requests the open made by kind (the proxy's records).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_writers import Proxy
from servers import start_seaweedfs

OPEN = """
import json, sys, time, tablelog
root, so = sys.argv[1], json.loads(sys.argv[2])
t0 = time.perf_counter()
lf = tablelog.scan("p/job/eval", root=root, storage_options=so)
t1 = time.perf_counter()
sys.stdout.write("opened\\n"); sys.stdout.flush(); sys.stdin.readline()
t2 = time.perf_counter()
rows = lf.collect().height
t3 = time.perf_counter()
print(json.dumps({"open_s": t1 - t0, "collect_s": t3 - t2, "rows": rows}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", type=int, default=256)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import tablelog

    with tempfile.TemporaryDirectory() as tmp:
        server = start_seaweedfs(tmp)
        proxy = Proxy(server, args.latency)
        try:
            server.create_bucket("shards-open")
            root, so = "s3://shards-open/t", server.storage_options()
            t0 = time.perf_counter()

            def write(n: int) -> None:
                run = tablelog.init(
                    project="p", id="job", root=root, storage_options=so, shard=f"r{n:05d}"
                )
                t = tablelog.Table(columns=["rank", "i"], log_mode="INCREMENTAL")
                for i in range(2):
                    t.add_data(n, i)
                    run.log({"eval": t}, step=i)
                run.finish()

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(write, range(args.shards)))
            print(f"wrote {args.shards} shards in {time.perf_counter() - t0:.1f} s (direct)")
            via = dict(so, client_kwargs={**so["client_kwargs"], "endpoint_url": proxy.url})
            for _ in range(args.repeat):
                p = subprocess.Popen(
                    [sys.executable, "-c", OPEN, root, json.dumps(via)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert p.stdin is not None and p.stdout is not None
                proxy.stats()  # forget earlier requests (imports make none)
                assert p.stdout.readline().strip() == "opened"
                opened = proxy.stats()
                p.stdin.write("go\n")
                p.stdin.flush()
                out = json.loads(p.stdout.readline())
                p.wait(timeout=60)
                assert out["rows"] == 2 * args.shards
                print(
                    json.dumps(
                        {
                            "shards": args.shards,
                            "latency_scale": args.latency,
                            "open_s": round(out["open_s"], 2),
                            "collect_s": round(out["collect_s"], 2),
                            "open_requests": opened["requests"],
                            "open_emulated_s": opened["emulated_s"],
                        }
                    ),
                    flush=True,
                )
        finally:
            proxy.close()
            server.stop()


if __name__ == "__main__":
    main()
