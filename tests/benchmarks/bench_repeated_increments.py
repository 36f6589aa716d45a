"""Reading an INCREMENTAL version whose increments repeat byte for byte (issue 22, 17).

A run resumed R times, each repeating the same loop of L logs, stores the same objects
again and again; the same number of logs with distinct rows is the floor. Run it (not
a pytest test)::

    python tests/benchmarks/bench_repeated_increments.py [R] [L]

Each read is repeated 7 times with the state cache cleared; medians are reported.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import tablelog
from tablelog.format import chain


def main() -> None:
    root = tempfile.mkdtemp()
    resumes, loop = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (20, 20)
    for name, distinct in (("same", False), ("distinct", True)):
        for r in range(resumes):
            with tablelog.init("p", id=name, root=root, resume="allow") as run:
                t = tablelog.Table(columns=["i", "x"], log_mode="INCREMENTAL")
                for s in range(loop):
                    for j in range(20):
                        t.add_data(s + (r * loop if distinct else 0), float(j))
                    run.log({"t": t})
    medians = {}
    for name in ("same", "distinct"):
        times = []
        for _ in range(7):
            chain.STATES.clear()
            t0 = time.perf_counter()
            df = tablelog.scan(f"p/{name}/t", root=root).collect()
            times.append(time.perf_counter() - t0)
        assert df.height == 20 * resumes * loop
        assert df["_increment"].n_unique() == resumes * loop
        medians[name] = statistics.median(times)
        print(
            f"{name}: {resumes * loop} increments, read p50 {medians[name] * 1000:.0f} ms "
            f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})"
        )
    print(f"repeated / distinct: {medians['same'] / medians['distinct']:.2f}x")


if __name__ == "__main__":
    main()
