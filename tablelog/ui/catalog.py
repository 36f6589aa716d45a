"""What the viewer lists: projects, runs (from ``run.json``) and a run's tables.

Read-only: one LIST of a prefix, ``run.json`` GETs and the latest manifest of each
table. ``run.json`` is read leniently (:func:`run_info`): fields a writer of another
release did not write (``summary``, ``tags``, ``group``, ...) are simply absent, and an
unreadable file is shown as such rather than failing the page.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tablelog.errors import NotFoundError
from tablelog.format import paths
from tablelog.objects.store import Store
from tablelog.read.tables import TableInfo, run_tables

#: Nested config/summary values are flattened to this depth (``config.opt.name``).
_MAX_DEPTH = 4
MAX_RUN_JSON_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class RunInfo:
    """One run as the runs page shows it; every field but ``run_id`` may be missing."""

    run_id: str
    name: str | None = None
    status: str | None = None
    created: float | None = None
    updated: float | None = None
    last_step: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    group: str | None = None
    job_type: str | None = None
    notes: str | None = None
    tables: int = 0
    keys: tuple[str, ...] = ()  # its tables (a sharded table once, without _history)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def run_info(run_id: str, data: bytes | None, *, keys: tuple[str, ...] = ()) -> RunInfo:
    """A run from its ``run.json`` bytes, tolerating missing, extra and malformed fields
    (``summary``, ``tags``, ``notes``, ``group``, ``job_type`` come with newer writers)."""
    info: Mapping[str, Any] = {}
    if data is not None and len(data) <= MAX_RUN_JSON_BYTES:
        try:
            found = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return RunInfo(run_id, status="unreadable run.json", tables=len(keys), keys=keys)
        info = found if isinstance(found, dict) else {}
    step = info.get("last_step")
    tags = info.get("tags")
    return RunInfo(
        run_id=run_id,
        name=_str(info.get("name")),
        status=_str(info.get("status")),
        created=_num(info.get("created")),
        updated=_num(info.get("updated")),
        last_step=step if isinstance(step, int) and not isinstance(step, bool) else None,
        config=dict(info["config"]) if isinstance(info.get("config"), dict) else {},
        summary=dict(info["summary"]) if isinstance(info.get("summary"), dict) else {},
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        group=_str(info.get("group")),
        job_type=_str(info.get("job_type")),
        notes=_str(info.get("notes")),
        tables=len(keys),
        keys=keys,
    )


def list_projects(store: Store) -> list[tuple[str, int]]:
    """(project, number of runs), by name."""
    runs: dict[str, set[str]] = defaultdict(set)
    for k in store.list(paths.projects_prefix()):
        parts = k.split("/")
        if len(parts) < 2:
            continue
        found = runs[paths.decode(parts[1])]
        if len(parts) == 5 and parts[2] == "runs" and parts[4] == "run.json":
            found.add(parts[3])
    return [(p, len(runs[p])) for p in sorted(runs)]


def list_runs(store: Store, project: str) -> list[RunInfo]:
    """Every run of ``project`` (newest first), with its ``run.json`` and table count."""
    prefix = paths.runs_prefix(project)
    runs: set[str] = set()
    tables: dict[str, set[str]] = defaultdict(set)
    for k in store.list(prefix):
        parts = k[len(prefix) :].split("/")
        if parts[1:] == ["run.json"]:
            runs.add(parts[0])
        elif len(parts) >= 3 and parts[1] == "tables":
            shard = paths.parse_shard_key(paths.decode(parts[2]))
            key = paths.decode(parts[2]) if shard is None else shard[1]
            if key != "_history":
                tables[parts[0]].add(key)
    if not runs and not tables:
        raise NotFoundError(f"no project {project!r} in {store.url}")
    ids = sorted(runs | set(tables))
    blobs = store.get_many([f"{prefix}{r}/run.json" for r in ids if r in runs])
    by_id = dict(zip([r for r in ids if r in runs], blobs, strict=True))
    out = [run_info(paths.decode(r), by_id.get(r), keys=tuple(sorted(tables[r]))) for r in ids]
    return sorted(out, key=lambda r: (-(r.created or 0), r.run_id))


def list_tables(store: Store, project: str, run_id: str) -> list[TableInfo]:
    """The tables of a run (a sharded table once), ``_history`` included, by key."""
    return run_tables(store, project, run_id)


def flatten(prefix: str, value: Any, out: dict[str, Any], depth: int = 0) -> None:
    if isinstance(value, dict) and value and depth < _MAX_DEPTH:
        for k, v in value.items():
            flatten(f"{prefix}.{k}", v, out, depth + 1)
    else:
        out[prefix] = value


def _column(values: list[Any]) -> pl.Series:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pl.Series(values, dtype=pl.Boolean)
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in present)
    if present and ints and all(-(2**63) <= v < 2**63 for v in present):
        return pl.Series(values, dtype=pl.Int64)
    if present and all(_num(v) is not None for v in present):
        return pl.Series([_num(v) for v in values], dtype=pl.Float64)
    text = [
        None
        if v is None
        else v
        if isinstance(v, str)
        else json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
        for v in values
    ]
    return pl.Series(text, dtype=pl.String)


def _time(t: float | None) -> dt.datetime | None:
    if t is None or not math.isfinite(t):
        return None
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).replace(microsecond=0)


def runs_frame(runs: list[RunInfo]) -> pl.DataFrame:
    """The runs page's table: fixed columns, then ``config.*`` and ``summary.*``."""
    flat = []
    for r in runs:
        row: dict[str, Any] = {}
        for name, section in (("config", r.config), ("summary", r.summary)):
            for k, v in section.items():
                flatten(f"{name}.{k}", v, row)
        flat.append(row)
    names = sorted({n for row in flat for n in row if n.startswith("config.")})
    names += sorted({n for row in flat for n in row if n.startswith("summary.")})
    data: dict[str, pl.Series] = {
        "run_id": pl.Series([r.run_id for r in runs], dtype=pl.String),
        "name": pl.Series([r.name for r in runs], dtype=pl.String),
        "status": pl.Series([r.status for r in runs], dtype=pl.String),
        "created": pl.Series([_time(r.created) for r in runs], dtype=pl.Datetime("us", "UTC")),
        "last_step": pl.Series([r.last_step for r in runs], dtype=pl.Int64),
        "tables": pl.Series([r.tables for r in runs], dtype=pl.Int64),
    }
    optional = {
        "group": [r.group for r in runs],
        "job_type": [r.job_type for r in runs],
        "tags": [", ".join(r.tags) if r.tags else None for r in runs],
        "notes": [r.notes for r in runs],
    }
    for name, values in optional.items():
        if any(v is not None for v in values):
            data[name] = pl.Series(values, dtype=pl.String)
    for n in names:
        data[n] = _column([row.get(n) for row in flat])
    return pl.DataFrame(data)


__all__ = [
    "RunInfo",
    "TableInfo",
    "flatten",
    "list_projects",
    "list_runs",
    "list_tables",
    "run_info",
    "runs_frame",
]
