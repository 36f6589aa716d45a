"""Maintenance commands: verify, gc, compact, sync."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from tablelog.cli import output
from tablelog.cli.common import UsageError, existing_store, print_json
from tablelog.errors import NotFoundError, TablelogError
from tablelog.maintenance import compact as table_compact
from tablelog.maintenance import gc as store_gc
from tablelog.maintenance import verify as store_verify
from tablelog.maintenance.garbage import MIN_GRACE
from tablelog.writer.spool import FINISH_FILE, RUN_INFO, Spool, spool_root, spools
from tablelog.writer.spool import sync as spool_sync


def verify(args: argparse.Namespace) -> int:
    existing_store(args.root)
    with output.progress(not args.json) as progress:
        report = store_verify(args.target, root=args.root, deep=args.deep, progress=progress)
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
    if args.delete and min_age < MIN_GRACE and not args.allow_short_grace:
        raise UsageError(
            f"--min-age-hours {args.min_age_hours:g} is below gc's minimum grace period "
            f"({MIN_GRACE.total_seconds() / 3600:g} h): a commit in progress would lose the "
            "objects it uploaded. Add --allow-short-grace only if nothing writes to this "
            "root now (without --delete, gc only lists)"
        )
    existing_store(args.root)
    with output.progress(not args.json) as progress:
        report = store_gc(
            args.root,
            min_age=min_age,
            dry_run=not args.delete,
            allow_short_grace=args.allow_short_grace,
            progress=progress,
        )
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
    with output.progress(not args.json) as progress:
        done = table_compact(
            args.path, root=args.root, target_rows=args.target_rows, progress=progress
        )
    if args.json:
        print_json(
            {
                "path": done.path,
                "compacted": done.compacted,
                "version": done.version,
                "fragments_before": done.fragments_before,
                "fragments_after": done.fragments_after,
                "rows": done.rows,
                "bytes_written": done.bytes_written,
                **(
                    {"shards": {s: {"version": r.version} for s, r in done.shards}}
                    if done.shards
                    else {}
                ),
            }
        )
    elif done.shards:
        compacted = sum(r.compacted for _, r in done.shards)
        print(
            f"{done.path}: {compacted} of {len(done.shards)} shard(s) compacted, "
            f"{done.fragments_before} -> {done.fragments_after} fragments, {done.rows} rows, "
            f"{done.bytes_written} bytes written"
        )
    elif done.compacted:
        print(
            f"{done.path}: version {done.version}, {done.fragments_before} -> "
            f"{done.fragments_after} fragments, {done.rows} rows, "
            f"{done.bytes_written} bytes written"
        )
    else:
        print(f"{done.path}: {done.fragments_before} fragment(s), nothing to compact")
    return 0


def _describe(spool: Spool) -> dict[str, Any] | None:
    """Where a writer's spool goes, from its first entry (JSON only, no rows read);
    None when another ``sync`` pushed it all meanwhile (read before taking its lock)."""
    for path in [*sorted(spool.folder.glob("*.job.json")), spool.folder / FINISH_FILE]:
        try:
            doc = json.loads(path.read_text())
            break
        except FileNotFoundError:
            continue  # pushed by another sync since it was listed
    else:
        try:  # an offline run whose logs are all in: its run.json and run.root
            doc = json.loads((spool.folder / RUN_INFO).read_text())
            doc["root"] = (spool.folder / "run.root").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
    return {
        "project": doc["project"],
        "run_id": doc["run_id"],
        "root": doc["root"],
        "folder": str(spool.folder),
    }


def sync(args: argparse.Namespace) -> int:
    folder = Path(args.spool).expanduser() if args.spool is not None else spool_root()
    if args.spool is not None and not folder.is_dir():
        raise NotFoundError(f"spool folder {str(folder)!r} does not exist")
    found = spools(folder) if folder.is_dir() else []
    runs: list[dict[str, Any]] = []
    with output.progress(not args.json) as progress:
        for spool in found:
            info = _describe(spool)
            if info is None:
                continue
            where = f"sync {info['project']}/{info['run_id']}"

            def report(_: str, done: int, total: int | None, where: str = where) -> None:
                if progress is not None:
                    progress(where, done, total)

            try:
                committed, already = spool_sync(spool.folder, root=args.root, progress=report)
            except TablelogError as e:
                left = sum(s.pending for s in found)
                raise TablelogError(
                    f"{where} stopped with {left} log(s) still spooled in {folder}: {e}"
                ) from e
            runs.append({**info, "committed": committed, "already": already})
    committed = sum(r["committed"] for r in runs)
    already = sum(r["already"] for r in runs)
    if args.json:
        print_json({"spool": str(folder), "committed": committed, "already": already, "runs": runs})
    elif not runs:
        print(f"nothing to sync in {folder}")
    else:
        for r in runs:
            print(
                f"{r['project']}/{r['run_id']}: {r['committed']} committed, {r['already']} "
                f"already there ({args.root or r['root']})"
            )
        print(
            f"synced {committed + already} log(s) from {folder}: {committed} committed, "
            f"{already} already there"
        )
    return 0
