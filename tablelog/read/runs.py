"""``tablelog.runs``: every run of a project, one row each, config and summary as columns.

>>> df = tablelog.runs("demo", root="s3://bucket/tl")                  # doctest: +SKIP
>>> df.filter(pl.col("config.lr") < 1e-3).sort("summary.loss")        # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from typing import Any

import polars as pl

from tablelog.errors import NotFoundError
from tablelog.format import paths
from tablelog.format.handle import list_runs
from tablelog.format.runinfo import RunInfo, parse_run_info
from tablelog.objects.open import open_store

#: The fixed columns, in order, before the ``config.*`` and ``summary.*`` ones.
RUN_COLUMNS: dict[str, Any] = {
    "run_id": pl.String,
    "name": pl.String,
    "status": pl.String,
    "created": pl.Datetime("us", "UTC"),
    "updated": pl.Datetime("us", "UTC"),
    "last_step": pl.Int64,
    "tags": pl.List(pl.String),
    "notes": pl.String,
    "group": pl.String,
    "job_type": pl.String,
}


def flatten(prefix: str, value: Mapping[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts as dotted keys: ``{"opt": {"lr": 1}}`` -> ``{"<prefix>.opt.lr": 1}``."""
    for k, v in value.items():
        name = f"{prefix}.{k}"
        if isinstance(v, Mapping) and v and "_type" not in v:
            flatten(name, v, out)
        else:
            out[name] = v
    return out


def _row(info: RunInfo) -> dict[str, Any]:
    utc = _dt.UTC
    row: dict[str, Any] = {
        "run_id": info.run_id,
        "name": info.name,
        "status": info.status,
        "created": _dt.datetime.fromtimestamp(info.created, utc),
        "updated": _dt.datetime.fromtimestamp(info.updated, utc),
        "last_step": info.last_step,
        "tags": list(info.tags),
        "notes": info.notes,
        "group": info.group,
        "job_type": info.job_type,
    }
    flatten("config", info.config, row)
    flatten("summary", info.summary, row)
    return row


def _column(name: str, values: list[Any]) -> pl.Series:
    if name in RUN_COLUMNS:
        return pl.Series(name, values, dtype=RUN_COLUMNS[name])
    try:
        return pl.Series(name, values, strict=True)
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        # Runs disagree on the type (a number here, a string there): JSON text.
        texts = [None if v is None else json.dumps(v, sort_keys=True) for v in values]
        return pl.Series(name, texts, dtype=pl.String)


def runs(
    project: str,
    *,
    root: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Every run of ``project`` with its config and summary, one row per run.

    Columns: ``run_id``, ``name``, ``status``, ``created``, ``updated``,
    ``last_step``, ``tags``, ``notes``, ``group``, ``job_type``, then one
    ``config.<key>`` column per config key and one ``summary.<key>`` per summary key
    (nested dicts flattened with dots: ``config.optimizer.lr``). A key a run lacks is
    null in its row; a key whose type differs between runs is JSON text. Rows are
    sorted by ``created``. The summary is as of the run's last ``run.json`` write
    (at finish, and every few seconds while it logs; docs/format.md "Runs").
    """
    project = paths.check_segment_name("project", project)
    store = open_store(root, storage_options=storage_options)
    ids = list_runs(store, project)
    if not ids:
        raise NotFoundError(f"project {project!r} has no runs in {store.url}")
    keys = [paths.run_json_key(project, r) for r in ids]
    rows = []
    for key, data in zip(keys, store.get_many(keys), strict=True):
        rows.append(_row(parse_run_info(data, where=store.full_url(key))))
    rows.sort(key=lambda r: (r["created"], r["run_id"]))
    names = list(RUN_COLUMNS)
    extra = sorted({k for r in rows for k in r} - set(names))
    extra.sort(key=lambda k: (not k.startswith("config."), k))
    columns = [_column(n, [r.get(n) for r in rows]) for n in [*names, *extra]]
    return pl.DataFrame(columns)
