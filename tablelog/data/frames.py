"""Building a Polars LazyFrame from a table state's fragments (no data is read here)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import polars as pl
import pyarrow as pa

from tablelog.caches import DTYPES, LRU
from tablelog.errors import ColumnTypeError, FormatError
from tablelog.format import paths
from tablelog.format.arrow_types import type_from_json
from tablelog.format.manifest import INCREMENT_COLUMN, Column, Fragment
from tablelog.objects.store import Store

_PATH_COLUMN = "__tablelog_source"  # (also the row index where paths do not tell)

_CAST = pl.ScanCastOptions(
    integer_cast=["upcast", "allow-float"],
    float_cast="upcast",
    datetime_cast=["upcast", "convert-timezone"],
    missing_struct_fields="insert",
    extra_struct_fields="ignore",
)


def polars_schema(columns: tuple[Column, ...]) -> pl.Schema:
    """The Polars schema of a table schema (via Arrow, exactly as stored); a type no
    reader can build (a damaged or hostile manifest) is a :class:`FormatError`."""
    out = []
    for c in columns:
        try:
            out.append((c.name, _polars_dtype(c.arrow)))
        except ColumnTypeError as e:
            raise FormatError(
                f"column {c.name!r} of the table's manifest has an unreadable type: {e}"
            ) from e
    return pl.Schema(out)


# A type's conversion is a pure function of its JSON, and the conversion through an
# empty Arrow table costs tens of microseconds per schema: remember each type once.
_DTYPES: LRU[str, pl.DataType] = LRU("polars dtypes", max_items=DTYPES)


def _polars_dtype(arrow: Any) -> pl.DataType:
    key = arrow if isinstance(arrow, str) else json.dumps(arrow, sort_keys=True)
    dtype = _DTYPES.get(key)
    if dtype is None:
        field = pa.field("c", type_from_json(arrow))
        frame = pl.from_arrow(pa.schema([field]).empty_table())
        assert isinstance(frame, pl.DataFrame)
        dtype = frame.schema["c"]
        _DTYPES.put(key, dtype)
    return dtype


def _type_key(arrow: Any) -> str:
    try:
        return json.dumps(arrow, sort_keys=True)
    except (RecursionError, ValueError, TypeError) as e:
        raise ColumnTypeError(f"malformed column type ({e})") from e


def _scan(store: Store, digests: list[str], schema: pl.Schema, **kw: Any) -> pl.LazyFrame:
    sources = [store.reader_source(paths.object_key(d)) for d in digests]
    options: Mapping[str, Any] | None = store.reader_options()
    return pl.scan_parquet(
        sources,  # type: ignore[arg-type]
        schema=schema,
        missing_columns="insert",
        extra_columns="ignore",
        cast_options=_CAST,
        # Credentials are not in ``options`` (unless the caller passed keys): Polars'
        # default ("auto") provider resolves them at collect(), so the frame holds none.
        storage_options=dict(options) if options else None,
        **kw,
    )


def fragments_frame(
    store: Store,
    columns: tuple[Column, ...],
    fragments: tuple[Fragment, ...],
    *,
    tag_increments: bool,
) -> pl.LazyFrame:
    """All rows of ``fragments`` in order, with the table's (union) schema."""
    schema = polars_schema(columns)
    out_schema = pl.Schema([*schema.items(), (INCREMENT_COLUMN, pl.Int64())])
    if not tag_increments:
        out_schema = schema
    if not fragments:
        return pl.LazyFrame(schema=out_schema)
    parts: list[pl.LazyFrame] = []
    run: list[Fragment] = []
    for frag in fragments:
        if len(frag.groups) == 1:
            run.append(frag)
            continue
        if run:
            parts.append(_simple_frame(store, schema, run, tag_increments))
            run = []
        parts.append(_grouped_frame(store, schema, frag, tag_increments))
    if run:
        parts.append(_simple_frame(store, schema, run, tag_increments))
    frame = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
    return frame


def _simple_frame(
    store: Store, schema: pl.Schema, frags: list[Fragment], tag: bool
) -> pl.LazyFrame:
    digests = [f.groups[0].object for f in frags]
    if not tag:
        return _scan(store, digests, schema)
    # Compacted fragments carry their rows' increments in an _increment column;
    # the others are tagged with the increment the manifest records for them.
    physical = {f.id for f in frags if INCREMENT_COLUMN in f.groups[0].columns}
    scan_schema = (
        pl.Schema([*schema.items(), (INCREMENT_COLUMN, pl.Int64())]) if physical else schema
    )
    if len(physical) == len(frags):  # compacted: nothing to look up
        return _scan(store, digests, scan_schema)
    # (A lookup from the scan's row index would be a little cheaper, but Polars then
    # stops pushing filters into the Parquet scan; file paths keep the pushdown.)
    sources = [store.reader_source(paths.object_key(d)) for d in digests]
    if all(isinstance(s, str) for s in sources) and len(set(digests)) == len(digests):
        mapping = {
            s: (None if f.id in physical else f.increment)
            for s, f in zip(sources, frags, strict=True)
        }
        lf = _scan(store, digests, scan_schema, include_file_paths=_PATH_COLUMN)
        mapped = pl.col(_PATH_COLUMN).replace_strict(mapping, return_dtype=pl.Int64)
        tag_expr = pl.coalesce(pl.col(INCREMENT_COLUMN), mapped) if physical else mapped
        return lf.with_columns(tag_expr.alias(INCREMENT_COLUMN)).drop(_PATH_COLUMN)
    # The same object twice (increments logged byte for byte again, as a resumed run
    # repeating its loop does) or in-memory sources: file paths cannot tell the
    # fragments apart, so each row's fragment is found from its row index in one scan.
    ends, total = [], 0
    for f in frags:
        total += f.rows
        ends.append(total)
    tags = pl.Series([None if f.id in physical else f.increment for f in frags], dtype=pl.Int64)
    lf = _scan(store, digests, scan_schema, row_index_name=_PATH_COLUMN)
    which = pl.lit(pl.Series(ends, dtype=pl.Int64)).search_sorted(
        pl.col(_PATH_COLUMN).cast(pl.Int64), side="right"
    )
    mapped = pl.lit(tags).gather(which)
    tag_expr = pl.coalesce(pl.col(INCREMENT_COLUMN), mapped) if physical else mapped
    return lf.with_columns(tag_expr.alias(INCREMENT_COLUMN)).drop(_PATH_COLUMN)


def _grouped_frame(store: Store, schema: pl.Schema, frag: Fragment, tag: bool) -> pl.LazyFrame:
    pieces = []
    for g in frag.groups:
        sub = pl.Schema({c: schema[c] for c in g.columns if c in schema})
        pieces.append(_scan(store, [g.object], sub))
    wide = pl.concat(pieces, how="horizontal")
    present = {c for g in frag.groups for c in g.columns}
    exprs = [
        pl.col(c) if c in present else pl.lit(None, dtype=dtype).alias(c)
        for c, dtype in schema.items()
    ]
    if tag:
        exprs.append(pl.lit(frag.increment, dtype=pl.Int64).alias(INCREMENT_COLUMN))
    return wide.select(exprs)
