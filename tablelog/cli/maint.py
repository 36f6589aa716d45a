"""Maintenance commands: verify, gc, compact."""

from __future__ import annotations

import argparse
import datetime as dt

from tablelog.cli.common import UsageError, print_json
from tablelog.maintenance import compact as table_compact
from tablelog.maintenance import gc as store_gc
from tablelog.maintenance import verify as store_verify


def verify(args: argparse.Namespace) -> int:
    report = store_verify(args.target, root=args.root, deep=args.deep)
    if args.json:
        print_json(report.to_json())
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


def gc(args: argparse.Namespace) -> int:
    if not args.min_age_hours >= 0:
        raise UsageError(f"--min-age-hours must be >= 0, got {args.min_age_hours}")
    min_age = dt.timedelta(hours=args.min_age_hours)
    report = store_gc(args.root, min_age=min_age, dry_run=not args.delete)
    if args.json:
        print_json(report.to_json())
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


def compact(args: argparse.Namespace) -> int:
    done = table_compact(args.path, root=args.root, target_rows=args.target_rows)
    if done.compacted:
        print(
            f"{done.path}: version {done.version}, {done.fragments_before} -> "
            f"{done.fragments_after} fragments, {done.rows} rows, "
            f"{done.bytes_written} bytes written"
        )
    else:
        print(f"{done.path}: {done.fragments_before} fragment(s), nothing to compact")
    return 0
