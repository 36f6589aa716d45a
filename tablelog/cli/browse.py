"""Read-only commands: ls, show, history, diff, export."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import defaultdict
from typing import Any

import polars as pl

from tablelog.cli import output
from tablelog.cli.common import UsageError, existing_store, print_json, print_records
from tablelog.errors import InvalidArgumentError, NotFoundError
from tablelog.format import paths
from tablelog.objects.store import Store
from tablelog.read.diff import INCREMENT, TableDiff
from tablelog.read.diff import diff as table_diff
from tablelog.read.export import export as table_export
from tablelog.read.export import export_format
from tablelog.read.html import DEFAULT_MAX_ROWS, DEFAULT_MAX_VERSIONS
from tablelog.read.scan import history as table_history
from tablelog.read.scan import scan
from tablelog.read.tables import run_tables


def _iso(t: Any) -> str | None:
    if isinstance(t, int | float) and not isinstance(t, bool):
        return dt.datetime.fromtimestamp(t, tz=dt.UTC).isoformat()
    return None


def _projects(store: Store) -> list[dict[str, Any]]:
    runs: dict[str, set[str]] = defaultdict(set)
    for k in store.list(paths.projects_prefix()):
        parts = k.split("/")
        if len(parts) < 2:
            continue
        found = runs[paths.decode(parts[1])]
        if len(parts) == 5 and parts[2] == "runs" and parts[4] == "run.json":
            found.add(parts[3])
    return [{"project": p, "runs": len(runs[p])} for p in sorted(runs)]


def _runs(store: Store, project: str) -> list[dict[str, Any]]:
    prefix = paths.runs_prefix(project)
    runs: set[str] = set()
    tables: dict[str, set[str]] = defaultdict(set)
    for k in store.list(prefix):
        parts = k[len(prefix) :].split("/")
        if parts[1:] == ["run.json"]:
            runs.add(parts[0])
        elif len(parts) >= 3 and parts[1] == "tables":
            shard = paths.parse_shard_key(paths.decode(parts[2]))  # shards: one table
            tables[parts[0]].add(parts[2] if shard is None else paths.encode(shard[1]))
    if not runs and not tables:
        raise NotFoundError(f"no project {project!r} in {store.url}")
    ids = sorted(runs, key=paths.decode)
    blobs = store.get_many([f"{prefix}{r}/run.json" for r in ids])
    out = []
    for r, blob in zip(ids, blobs, strict=True):
        try:
            info = json.loads(blob.decode("utf-8"))
            if not isinstance(info, dict):
                info = {}
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            info = {"status": "unreadable"}
        out.append(
            {
                "run_id": paths.decode(r),
                "name": info.get("name"),
                "status": info.get("status"),
                "last_step": info.get("last_step"),
                "created": _iso(info.get("created")),
                "updated": _iso(info.get("updated")),
                "tables": len(tables[r]),
            }
        )
    return out


def _tables(store: Store, project: str, run_id: str) -> list[dict[str, Any]]:
    return [
        {
            "key": t.key,
            "mode": t.mode,
            "versions": t.versions,
            "rows": t.rows,
            "step": t.step,
            "shards": t.shards,
            "updated": _iso(t.updated) or "",
        }
        for t in run_tables(store, project, run_id)
    ]


def ls(args: argparse.Namespace) -> int:
    store = existing_store(args.root)
    parts = args.path.split("/") if args.path.strip("/") else []
    if len(parts) > 2 or not all(parts):
        raise UsageError(f"ls takes '', PROJECT or PROJECT/RUN, got {args.path!r}")
    if not parts:
        rows = _projects(store)
        name, line = "project", "{project}  {runs} run(s)"
    elif len(parts) == 1:
        rows = _runs(store, paths.check_segment_name("project", parts[0]))
        name = "run_id"
        line = "{run_id}  {status}  step {last_step}  {tables} table(s)  {name}"
    else:
        project = paths.check_segment_name("project", parts[0])
        rows = _tables(store, project, paths.check_segment_name("run id", parts[1]))
        name = "key"
        line = "{key}  {mode}  {versions} version(s)  {rows} row(s)  step {step}"
    if args.json:
        print_json(rows)
    elif args.long and rows:

        def plain() -> None:
            for row in rows:
                text = line.format(**{k: "-" if v is None else v for k, v in row.items()})
                if row.get("shards"):
                    text += f"  {row['shards']} shard(s)"
                print(text.rstrip())

        output.print_table([list(r.values()) for r in rows], list(rows[0]), plain=plain)
    elif rows:
        print("\n".join(str(row[name]) for row in rows))
    else:
        print(f"no projects in {store.url} yet", file=sys.stderr)
    return 0


def show(args: argparse.Namespace) -> int:
    lf = scan(args.path, root=args.root, version=args.version, step=args.step)
    names = lf.collect_schema().names()
    if args.where is not None:
        lf = lf.filter(args.where)
    if args.columns:
        missing = [c for c in args.columns if c not in names]
        if missing:
            raise InvalidArgumentError(
                f"{args.path} has no column {missing[0]!r}; its columns: {names}"
            )
        lf = lf.select(args.columns)
    total: int | None = None
    if not args.all:
        df = lf.head(args.head + 1).collect()  # one more row tells whether it truncates
        if df.height > args.head:
            total = int(lf.select(pl.len()).collect().item())
            df = df.head(args.head)
    else:
        df = lf.collect()
    if args.json:
        print_records(df)
    else:
        output.print_frame(df, total_rows=total)
        if total is not None and not output.is_terminal():
            print(f"{df.height} of {total} rows (--head N or --all for more)")
    return 0


def history(args: argparse.Namespace) -> int:
    per = "increment" if args.increments else "version"
    df = table_history(args.path, root=args.root, per=per)
    if args.json:
        print_records(df)
        return 0

    def plain() -> None:  # piped: one line per version (or increment)
        for v in df.iter_rows(named=True):
            shard = f"  shard {v['shard']}" if "shard" in v else ""
            if per == "increment":
                step = "-" if v["step"] is None else v["step"]
                print(
                    f"{v['increment']}  step {step}  {v['rows']} row(s)  "
                    f"version {v['version']}  {v['time'].isoformat()}{shard}"
                )
                continue
            print(
                f"{v['version']}  step {'-' if v['step'] is None else v['step']}  {v['mode']}  "
                f"{v['rows']} row(s)  +{v['added_rows']}  {len(v['columns'])} column(s)  "
                f"{v['fragments']} fragment(s)  {v['time'].isoformat()}{shard}"
            )

    if output.is_terminal():
        output.print_frame(df.drop("log_id") if per == "increment" else df.drop("digest", "writer"))
    else:
        plain()
    return 0


def _diff_text(d: TableDiff) -> list[str]:
    by = "rows by increment" if d.identity == INCREMENT else "rows by position"
    if d.shards:
        side_a = "start" if d.step_a is None else f"step {d.step_a}"
        side_b = "latest" if d.step_b is None else f"step {d.step_b}"
        head = f"{d.path}: {side_a} -> {side_b}, {len(d.shards)} shard(s)"
        out = [f"{head} ({d.mode}, {by})"]
    else:
        out = [f"{d.path}: version {d.version_a} -> {d.version_b} ({d.mode}, {by})"]
    if d.same:
        out.append("no difference")
        return out
    if d.columns_added or d.columns_removed:
        changes = [f"+{c}" for c in d.columns_added] + [f"-{c}" for c in d.columns_removed]
        out.append(f"columns: {', '.join(changes)}")
    if d.columns_retyped:
        out.append(f"columns retyped: {', '.join(d.columns_retyped)}")
    out.append(
        f"rows: {d.rows_a} -> {d.rows_b}: +{d.rows_added} added, -{d.rows_removed} removed, "
        f"{d.rows_changed} changed"
    )
    changed = [f"{c} {n}" for c, n in d.cells_changed if n]
    if changed:
        out.append(f"cells changed: {', '.join(changed)}")
    for label, incs in (("added", d.increments_added), ("removed", d.increments_removed)):
        if incs:
            listed = ", ".join(f"{i} ({n} rows)" for i, n in incs)
            out.append(f"increments {label}: {listed}")
    return out


def diff(args: argparse.Namespace) -> int:
    if args.a is None and args.step_a is None:
        raise UsageError("give version A or --step-a")
    d = table_diff(
        args.path, args.a, args.b, step_a=args.step_a, step_b=args.step_b, root=args.root
    )
    if args.json:
        print_json(d.to_json())
    else:
        print("\n".join(_diff_text(d)))
    return 0


def export(args: argparse.Namespace) -> int:
    html_only = {"--max-rows": args.max_rows, "--max-versions": args.max_versions}
    extra = {k: v for k, v in html_only.items() if v is not None}
    if extra and export_format(args.to) != "html":
        raise UsageError(f"{', '.join(extra)} only applies to an .html export")
    max_rows: int = DEFAULT_MAX_ROWS if args.max_rows is None else args.max_rows
    with output.progress(not args.json) as progress:
        done = table_export(
            args.path,
            args.to,
            root=args.root,
            version=args.version,
            step=args.step,
            progress=progress,
            max_rows=max_rows,
            max_versions=args.max_versions or DEFAULT_MAX_VERSIONS,
        )
    if args.json:
        print_json(done.to_json())
    else:
        cut = f"; the first {max_rows} row(s) per version" if done.truncated else ""
        print(
            f"wrote {done.rows} row(s), {len(done.columns)} column(s) of {done.path} version "
            f"{done.version} to {done.target} ({done.format}, {done.bytes} bytes{cut})"
        )
    return 0
