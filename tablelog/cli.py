"""The ``tablelog`` command: look at tables without writing code.

Exit codes: 0 success, 1 a tablelog error (not found, corrupt, store down), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import polars as pl

from tablelog.errors import TablelogError
from tablelog.format import paths
from tablelog.objects.open import open_store
from tablelog.read.scan import history, list_runs, list_tables, scan


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tablelog", description=__doc__)
    p.add_argument("--root", help="store URL or folder (default $TABLELOG_ROOT, ./tablelog-data)")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("ls", help="list projects, the runs of a project, or a run's tables")
    ls.add_argument("path", nargs="?", default="", help="'', PROJECT or PROJECT/RUN")
    show = sub.add_parser("show", help="print a table version")
    show.add_argument("path", help="PROJECT/RUN/KEY")
    show.add_argument("--version", type=int)
    show.add_argument("--step", type=int)
    show.add_argument("--head", type=int, default=20)
    hist = sub.add_parser("history", help="one line per version of a table")
    hist.add_argument("path", help="PROJECT/RUN/KEY")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "ls":
            store = open_store(args.root)
            parts = [p for p in args.path.split("/", 1) if p]
            if not parts:
                names = {k.split("/")[1] for k in store.list(paths.projects_prefix())}
                print("\n".join(sorted(paths.decode(n) for n in names)))
            elif len(parts) == 1:
                print("\n".join(list_runs(store, parts[0])))
            else:
                print("\n".join(sorted(list_tables(store, parts[0], parts[1]))))
        elif args.command == "show":
            with pl.Config(tbl_rows=args.head, tbl_cols=-1):
                lf = scan(args.path, root=args.root, version=args.version, step=args.step)
                print(lf.head(args.head).collect())
        else:
            print(history(args.path, root=args.root).drop("digest", "writer"))
    except (TablelogError, ValueError) as e:
        print(f"tablelog: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
