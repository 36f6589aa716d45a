"""The ``tablelog`` command: look at tables without writing code.

Exit codes: 0 success, 1 a tablelog error (not found, corrupt, store down), 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence

import polars as pl

from tablelog.errors import TablelogError
from tablelog.format import paths
from tablelog.maintenance import compact, gc, verify
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
    ver = sub.add_parser("verify", help="check every version of every table (exit 1 on problems)")
    ver.add_argument("target", nargs="?", default="", help="'', PROJECT, PROJECT/RUN or P/R/KEY")
    ver.add_argument("--deep", action="store_true", help="also read and hash every object")
    ver.add_argument("--json", action="store_true", help="print the report as JSON")
    col = sub.add_parser("gc", help="list (or --delete) objects no table version references")
    col.add_argument("--min-age-hours", type=float, default=24.0, help="grace period (default 24)")
    col.add_argument("--delete", action="store_true", help="delete (default: dry run)")
    col.add_argument("--json", action="store_true", help="print the report as JSON")
    com = sub.add_parser("compact", help="rewrite a table's latest version into few large objects")
    com.add_argument("path", help="PROJECT/RUN/KEY")
    com.add_argument("--target-rows", type=int, default=1_000_000, help="rows per object")
    return p


def _verify(args: argparse.Namespace) -> int:
    report = verify(args.target, root=args.root, deep=args.deep)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for problem in report.problems:
            print(problem)
        unref = "" if report.unreferenced is None else f", {report.unreferenced} unreferenced"
        print(
            f"{'ok' if report.ok else f'{len(report.problems)} problem(s)'}: "
            f"{report.tables} table(s), {report.versions} version(s), {report.objects} "
            f"object(s), {report.bytes} bytes{' (deep)' if report.deep else ''}{unref}"
        )
    return 0 if report.ok else 1


def _gc(args: argparse.Namespace) -> int:
    if not args.min_age_hours >= 0:
        _parser().error(f"--min-age-hours must be >= 0, got {args.min_age_hours}")
    min_age = dt.timedelta(hours=args.min_age_hours)
    report = gc(args.root, min_age=min_age, dry_run=not args.delete)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for g in report.garbage:
            print(g.url)
        for problem in report.lost:
            print(f"LOST {problem}")
        verb = "would delete" if report.dry_run else "deleted"
        print(
            f"{verb} {len(report.garbage)} object(s), {report.bytes} bytes; kept "
            f"{report.referenced} referenced by {report.versions} version(s) of "
            f"{report.tables} table(s), {report.young} younger than {args.min_age_hours:g} h"
            + (f", {report.spared} referenced meanwhile" if report.spared else "")
        )
    return 0 if report.ok else 1


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
        elif args.command == "history":
            print(history(args.path, root=args.root).drop("digest", "writer"))
        elif args.command == "verify":
            return _verify(args)
        elif args.command == "compact":
            done = compact(args.path, root=args.root, target_rows=args.target_rows)
            if done.compacted:
                print(
                    f"{done.path}: version {done.version}, {done.fragments_before} -> "
                    f"{done.fragments_after} fragments, {done.rows} rows, "
                    f"{done.bytes_written} bytes written"
                )
            else:
                print(f"{done.path}: {done.fragments_before} fragment(s), nothing to compact")
        else:
            return _gc(args)
    except (TablelogError, ValueError) as e:
        print(f"tablelog: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
