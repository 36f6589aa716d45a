"""``run.json``: a run's config, status and times (docs/format.md, "Runs")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tablelog.errors import FormatError, NotFoundError
from tablelog.format.manifest import canonical_json, check_format_version
from tablelog.objects.store import Store

MAX_RUN_JSON_BYTES = 4 * 1024 * 1024
STATUSES = ("running", "finished", "failed")
#: The run.json format this tablelog writes and reads (docs/format.md, "Runs"); group
#: commit (format 2 manifests) leaves run.json unchanged.
RUN_FORMAT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    project: str
    run_id: str
    name: str | None
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    created: float
    updated: float
    last_step: int | None = None
    format_version: int = RUN_FORMAT_VERSION
    # W&B's run fields (#17): written only when set, so older files read the same.
    summary: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    notes: str | None = None
    group: str | None = None
    job_type: str | None = None


#: Optional run.json fields (#17), written only when they hold something.
_OPTIONAL = ("summary", "tags", "notes", "group", "job_type")


def encode_run_info(info: RunInfo) -> bytes:
    optional = {k: getattr(info, k) for k in _OPTIONAL if getattr(info, k)}
    if "tags" in optional:
        optional["tags"] = list(info.tags)
    return canonical_json(
        {
            **optional,
            "format_version": info.format_version,
            "project": info.project,
            "run_id": info.run_id,
            "name": info.name,
            "config": info.config,
            "status": info.status,
            "created": info.created,
            "updated": info.updated,
            "last_step": info.last_step,
        }
    )


def parse_run_info(data: bytes, *, where: str) -> RunInfo:
    if len(data) > MAX_RUN_JSON_BYTES:
        raise FormatError(f"{where}: run.json is larger than {MAX_RUN_JSON_BYTES} bytes")
    try:
        v = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise FormatError(f"{where}: run.json is not valid JSON ({e})") from e
    if not isinstance(v, dict):
        raise FormatError(f"{where}: run.json is not a JSON object")
    check_format_version(
        v.get("format_version"), what="run.json", where=where, newest=RUN_FORMAT_VERSION
    )
    if v.get("status") not in STATUSES:
        raise FormatError(
            f"{where}: run.json has status {str(v.get('status'))[:40]!r}, not one of {STATUSES}"
        )
    try:
        return RunInfo(
            project=str(v["project"]),
            run_id=str(v["run_id"]),
            name=v["name"],
            config=dict(v["config"]),
            status=v["status"],
            created=float(v["created"]),
            updated=float(v["updated"]),
            last_step=None if v["last_step"] is None else int(v["last_step"]),
            **_optional_fields(v),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"{where}: malformed run.json ({e!r})") from e


def _optional_fields(v: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if v.get("summary") is not None:
        out["summary"] = dict(v["summary"])
    if v.get("tags") is not None:
        out["tags"] = tuple(str(t) for t in v["tags"])
    for k in ("notes", "group", "job_type"):
        if v.get(k) is not None:
            out[k] = str(v[k])
    return out


def read_run_info(store: Store, key: str) -> RunInfo | None:
    """The ``run.json`` at ``key`` of ``store``; None when there is none."""
    try:
        data = store.get(key)
    except NotFoundError:
        return None
    return parse_run_info(data, where=store.full_url(key))
