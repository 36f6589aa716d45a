"""How often ``run.log`` lets go of the GIL, and where (needs gdb; not a pytest test).

Run it::

    python tests/benchmarks/count_gil_releases.py [--logs N] [--scalars N]

Every release of the GIL on the caller's thread lets a waiting thread in (the commit
thread, s3fs' event loop), and ``run.log`` then waits until that thread gives the GIL
back: up to a whole request's worth of botocore Python on S3 (docs/speed.md, "run.log
latency"). This runs the logging loop of bench_group_commit (an INCREMENTAL table of
10 rows a step, plus ``--scalars`` history values) under gdb, with a breakpoint on
``PyEval_SaveThread`` on the main thread that is enabled only inside ``run.log`` calls
(after 100 warm-up logs), and prints the Python line of each release, counted, and the
releases per log. Local store: the caller's side is the same on S3.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

GDB_COMMANDS = """\
set breakpoint pending on
set pagination off
set print thread-events off
break PyEval_SaveThread if $_thread == 1
commands 1
silent
py-bt
continue
end
disable 1
break os_getppid_impl
commands 2
silent
enable 1
continue
end
break os_getegid_impl
commands 3
silent
disable 1
continue
end
run
"""


def child(logs: int, scalars: int) -> None:
    """The loop; ``os.getppid()`` / ``os.getegid()`` mark the start and end of a log."""
    sys.path.insert(0, str(HERE))
    from bench_core import COLUMNS, make_frame, python_rows

    import tablelog

    run = tablelog.init(project="gil", root=tempfile.mkdtemp(prefix="tablelog-gil-"))
    rows = python_rows(make_frame(1000 * 10, 10), py_floats=False)
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    for s in range(100 + logs):
        for row in rows[(s % 1000) * 10 : (s % 1000 + 1) * 10]:
            table.add_data(*row)
        data = {"inc": table, **{f"m{i}": 0.5 * s + i for i in range(scalars)}}
        if s == 100:
            run.flush()  # (the warm-up's commits are done)
        if s >= 100:
            os.getppid()
        run.log(data, step=s)
        if s >= 100:
            os.getegid()
    run.finish()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logs", type=int, default=60, help="logs counted (after 100 warm-up)")
    ap.add_argument("--scalars", type=int, default=0, help="history values per log")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.logs, args.scalars)
        return
    with tempfile.NamedTemporaryFile("w", suffix=".gdb", delete=False) as f:
        f.write(GDB_COMMANDS)
    gdb = ["gdb", "-q", "-batch", "-iex", "add-auto-load-safe-path /", "-x", f.name]
    child_args = ["--child", "--logs", str(args.logs), "--scalars", str(args.scalars)]
    out = subprocess.run(
        [*gdb, "--args", sys.executable, __file__, *child_args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(f.name)
    sites: collections.Counter[str] = collections.Counter()
    for trace in out.split("Traceback (most recent call first):")[1:]:
        frames = re.findall(r'File "([^"]+)", line (\d+), in \S+\n\s+(.*)', trace)
        if not frames:
            sites["(no Python frame: is python3.X-gdb.py loaded?)"] += 1
            continue
        path, line, text = frames[0]
        sites[f"{path.rsplit('/', 1)[-1]}:{line} {text.strip()[:70]}"] += 1
    total = sum(sites.values())
    per_log = total / args.logs
    print(f"{total} releases of the GIL in {args.logs} run.log calls: {per_log:.1f} a log")
    for site, n in sites.most_common():
        print(f"{n / args.logs:6.1f}  {site}")


if __name__ == "__main__":
    main()
