"""``run.json``: a run's config, status and times (docs/format.md, "Runs")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tablelog.errors import FormatError
from tablelog.format.manifest import canonical_json

MAX_RUN_JSON_BYTES = 4 * 1024 * 1024
STATUSES = ("running", "finished", "failed")


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
    format_version: int = 1


def encode_run_info(info: RunInfo) -> bytes:
    return canonical_json(
        {
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
    try:
        if v["format_version"] != 1 or v["status"] not in STATUSES:
            raise FormatError(f"{where}: unsupported run.json (format or status)")
        return RunInfo(
            project=str(v["project"]),
            run_id=str(v["run_id"]),
            name=v["name"],
            config=dict(v["config"]),
            status=v["status"],
            created=float(v["created"]),
            updated=float(v["updated"]),
            last_step=None if v["last_step"] is None else int(v["last_step"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"{where}: malformed run.json ({e!r})") from e
