"""``export``: one version of a table to a Parquet, CSV, JSON, NDJSON or HTML file.

The file is written by Polars from the lazy scan, streamed (``sink_*``) where the
format allows it, into a temporary file next to the target that is renamed over it
at the end, so a failed export never leaves half a file behind. CSV has no nested
types: list, array and struct cells are written as JSON text, binary cells as base64
and durations as ISO 8601 text. JSON is one array of row objects (binary as base64).
HTML is one self-contained page to look at (:mod:`tablelog.read.html`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tablelog.errors import InvalidArgumentError, NotFoundError
from tablelog.format.handle import Root, open_table
from tablelog.progress import Progress
from tablelog.read.html import DEFAULT_MAX_ROWS, DEFAULT_MAX_VERSIONS, write_html
from tablelog.read.scan import table_frame, union_frame

#: File extension -> format.
FORMATS: Mapping[str, str] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".html": "html",
    ".htm": "html",
}


def export_format(target: str | os.PathLike[str]) -> str:
    """The format of ``target`` from its extension; ``ValueError`` for an unknown one."""
    suffix = Path(target).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise InvalidArgumentError(
            f"cannot export to {os.fspath(target)!r}: unknown extension {suffix or '(none)'!r} "
            f"(use one of {known})"
        )
    return FORMATS[suffix]


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    path: str
    target: str
    format: str
    version: int  # -1: the union of a sharded table's shards (``shards``)
    rows: int
    columns: tuple[str, ...]
    bytes: int
    streamed: bool
    #: HTML only: a version had more rows than ``max_rows`` (the page shows the first).
    truncated: bool = False
    #: A sharded table: each exported shard and its version.
    shards: tuple[tuple[str, int], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "target": self.target,
            "format": self.format,
            "version": self.version,
            "rows": self.rows,
            "columns": list(self.columns),
            "bytes": self.bytes,
            "streamed": self.streamed,
            "truncated": self.truncated,
            **({"shards": dict(self.shards)} if self.shards else {}),
        }


def _json_text(name: str) -> pl.Expr:
    """A nested column as JSON text (null stays null)."""
    encoded = pl.struct(pl.col(name).alias("v")).struct.json_encode()
    text = encoded.str.slice(len('{"v":')).str.strip_suffix("}")
    return pl.when(pl.col(name).is_null()).then(None).otherwise(text).alias(name)


def flatten_for_text(lf: pl.LazyFrame, fmt: str) -> pl.LazyFrame:
    """Make ``lf`` writable as ``fmt``: CSV gets no nested/binary/duration cells,
    JSON gets no binary cells (Polars cannot write them)."""
    if fmt == "parquet":
        return lf
    exprs: list[pl.Expr] = []
    for name, dtype in lf.collect_schema().items():
        if isinstance(dtype, pl.Binary):
            exprs.append(pl.col(name).bin.encode("base64"))
        elif fmt == "csv" and isinstance(dtype, pl.List | pl.Array | pl.Struct):
            exprs.append(_json_text(name))
        elif fmt == "csv" and isinstance(dtype, pl.Duration):
            exprs.append(pl.col(name).dt.to_string())
    return lf.with_columns(exprs) if exprs else lf


def _write(lf: pl.LazyFrame, fmt: str, out: str) -> bool:
    """Write ``lf`` to ``out`` with Polars' ``sink_<fmt>``/``write_<fmt>``; True when it
    was streamed (every format but JSON can sink)."""
    if fmt != "json":
        try:
            getattr(lf, f"sink_{fmt}")(out)
            return True
        except pl.exceptions.InvalidOperationError:
            pass  # this plan cannot stream: collect and write below
    getattr(lf.collect(), f"write_{fmt}")(out)
    return False


def _check_target(target: Path) -> Path:
    if target.is_dir():
        raise InvalidArgumentError(f"cannot export to {os.fspath(target)!r}: it is a directory")
    if not target.parent.is_dir():
        raise InvalidArgumentError(
            f"cannot export to {os.fspath(target)!r}: folder {str(target.parent)!r} does not exist"
        )
    return target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"


def _export_union(
    path: str, shards: list[Any], target: Path, fmt: str, progress: Progress | None
) -> ExportResult:
    tmp = _check_target(target)
    try:
        lf = flatten_for_text(union_frame(shards), fmt)
        if progress is not None:
            progress(f"write {fmt}", 0, None)
        streamed = _write(lf, fmt, str(tmp))
        if progress is not None:
            progress(f"write {fmt}", 1, 1)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(
        path=path,
        target=str(target),
        format=fmt,
        version=-1,
        rows=sum(state.rows for _, _, state in shards),
        columns=tuple(lf.collect_schema().names()),
        bytes=target.stat().st_size,
        streamed=streamed,
        shards=tuple((shard, state.version) for shard, _, state in shards),
    )


def export(
    path: str,
    to: str | os.PathLike[str],
    *,
    root: Root = None,
    storage_options: Mapping[str, Any] | None = None,
    version: int | None = None,
    step: int | None = None,
    fmt: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_versions: int = DEFAULT_MAX_VERSIONS,
    progress: Progress | None = None,
) -> ExportResult:
    """Write version ``version`` (or as of ``step``; default the latest) of table
    ``project/run/key`` to the file ``to``; the format follows its extension unless
    ``fmt`` (one of :data:`FORMATS`' values) is given. Replaces an existing file.

    ``max_rows`` and ``max_versions`` bound an HTML page (rows per version, versions
    of a MUTABLE table); ``progress`` is called as work proceeds (:mod:`tablelog.progress`).

    A sharded table exports as one table, as :func:`tablelog.scan` reads it: every
    shard (at ``step``), shards in id order, with a ``_shard`` column; ``version=``
    names one shard's version (read one shard by its path). HTML pages show one chain:
    export one shard's path to HTML.
    """
    if fmt is None:
        fmt = export_format(to)
    elif fmt not in FORMATS.values():
        raise InvalidArgumentError(
            f"unknown export format {fmt!r} (use one of {sorted(set(FORMATS.values()))})"
        )
    ref = open_table(path, root=root, storage_options=storage_options)
    try:
        state = ref.state(version=version, step=step)
    except NotFoundError:
        shards = ref.sharded(version=version, step=step)
        if shards is None:
            raise
        if fmt == "html":
            raise InvalidArgumentError(
                f"table {ref.path} is sharded ({len(shards)} shards); an HTML page shows one "
                f"chain: export one shard's path, e.g. {shards[0][1].path}, or export the "
                "union to Parquet, CSV or JSON"
            ) from None
        return _export_union(ref.path, shards, Path(to), fmt, progress)
    target = Path(to)
    if target.is_dir():
        raise InvalidArgumentError(f"cannot export to {os.fspath(to)!r}: it is a directory")
    if not target.parent.is_dir():
        raise InvalidArgumentError(
            f"cannot export to {os.fspath(to)!r}: folder {str(target.parent)!r} does not exist"
        )
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
    try:
        if fmt == "html":
            page = write_html(
                ref,
                state,
                tmp,
                max_rows=max_rows,
                max_versions=max_versions,
                storage_options=storage_options,
                progress=progress,
            )
            rows, columns, streamed = page.rows, page.columns, False
        else:
            lf = flatten_for_text(table_frame(ref, state, None), fmt)
            if progress is not None:
                progress(f"write {fmt}", 0, None)
            streamed = _write(lf, fmt, str(tmp))
            rows, columns = state.rows, tuple(lf.collect_schema().names())
            if progress is not None:
                progress(f"write {fmt}", 1, 1)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(
        path=ref.path,
        target=str(target),
        format=fmt,
        version=state.version,
        rows=rows,
        columns=columns,
        bytes=target.stat().st_size,
        streamed=streamed,
        truncated=fmt == "html" and page.truncated,
    )


__all__ = ["FORMATS", "ExportResult", "export", "export_format", "flatten_for_text"]
