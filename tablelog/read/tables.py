"""The tables of a run, one row each: what ``tablelog ls PROJECT/RUN`` and the viewer's
run page show. A sharded table is one row (its shards counted); ``_history`` is listed.

Versions are contiguous from 0 (docs/format.md), so a table's newest version is the end
of the run of listed version names from 0: a stray name past a gap is not a version,
as every reader sees it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tablelog.errors import NotFoundError
from tablelog.format import paths
from tablelog.format.chain import TableRef
from tablelog.objects.store import Store


@dataclass(frozen=True)
class TableInfo:
    key: str
    mode: str | None
    versions: int
    rows: int
    step: int | None
    updated: float | None
    shards: int


def run_tables(store: Store, project: str, run_id: str) -> list[TableInfo]:
    """The tables of run ``project/run_id`` by key; ``NotFoundError`` if there is no
    such run (no table and no ``run.json``). One LIST, then one manifest per chain."""
    prefix = paths.tables_prefix(project, run_id)
    listed: dict[str, set[int]] = defaultdict(set)
    for k in store.list(prefix):
        parts = k[len(prefix) :].split("/")
        v = paths.parse_version_name(parts[-1]) if len(parts) == 3 else None
        if v is not None and parts[1] == "versions":
            listed[paths.decode(parts[0])].add(v)
    latest: dict[str, int] = {}
    for key, versions in listed.items():
        newest = -1
        while newest + 1 in versions:
            newest += 1
        if newest >= 0:
            latest[key] = newest
    if not latest and not store.exists(paths.run_json_key(project, run_id)):
        raise NotFoundError(f"no run {project}/{run_id} in {store.url}")
    rows: dict[str, TableInfo] = {}
    for table_key in sorted(latest):
        m, _ = TableRef(store, project, run_id, table_key).read_manifest(latest[table_key])
        sharded = paths.parse_shard_key(table_key)
        key = table_key if sharded is None else sharded[1]
        old = rows.get(key)
        steps = [s for s in (m.step, old.step if old else None) if s is not None]
        rows[key] = TableInfo(
            key=key,
            mode=old.mode if old else m.mode,
            versions=(old.versions if old else 0) + latest[table_key] + 1,
            rows=(old.rows if old else 0) + m.rows,
            step=max(steps) if steps else None,
            updated=max(m.time, old.updated or 0.0) if old else m.time,
            shards=(old.shards if old else 0) + (sharded is not None),
        )
    return [rows[k] for k in sorted(rows)]


__all__ = ["TableInfo", "run_tables"]
