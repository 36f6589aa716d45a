"""The stored form of media cells (docs/format.md, "Media"): the struct each
cell is, and the content-addressed blob names a table's cells refer to."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from tablelog.format import paths

#: The struct every media cell is stored as (docs/format.md, "Media"). Fields a
#: kind does not use are null.
MEDIA_TYPE = pa.struct(
    [
        ("kind", pa.string()),
        ("digest", pa.string()),
        ("ext", pa.string()),
        ("mime", pa.string()),
        ("size", pa.int64()),
        ("name", pa.string()),
        ("caption", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("mode", pa.string()),
        ("duration", pa.float64()),
        ("sample_rate", pa.int32()),
        ("channels", pa.int32()),
        ("fps", pa.float64()),
        ("extra", pa.string()),
    ]
)
FIELDS = tuple(f.name for f in MEDIA_TYPE)


def blob_name(digest: str, ext: str) -> str:
    """``<digest>.<ext>``: a blob's file name below ``media/<aa>/`` (checked: cells
    re-logged from a scanned table carry whatever the bucket held)."""
    return paths.check_blob_name(f"{digest}.{ext}")


def cell_blob_names(cell: Mapping[str, Any]) -> list[str]:
    """The blob names a stored cell refers to: its own, then any class masks'."""
    digest, ext = cell.get("digest"), cell.get("ext")
    if not digest or not ext:
        return []
    out = [blob_name(str(digest), str(ext))]
    extra = cell.get("extra")
    if extra:
        masks = json.loads(extra).get("masks", {})
        out.extend(
            blob_name(m["digest"], m["ext"])
            for m in masks.values()
            if isinstance(m, dict) and "digest" in m and "ext" in m
        )
    return out


def is_media_struct(t: pa.DataType) -> bool:
    """Whether ``t`` is a media cell struct, possibly with other string types (as a
    Polars or pandas round trip gives it back)."""
    return pa.types.is_struct(t) and tuple(f.name for f in t) == FIELDS


def as_media_columns(table: pa.Table) -> pa.Table:
    """``table`` with media cell columns read back by a DataFrame library cast to
    :data:`MEDIA_TYPE`, so that logging them again keeps them media cells."""
    for i, field in enumerate(table.schema):
        if field.type != MEDIA_TYPE and is_media_struct(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(MEDIA_TYPE))
    return table


def media_blob_names(table: pa.Table) -> list[str]:
    """Sorted distinct blob names the media columns of ``table`` refer to."""
    names: set[str] = set()
    for col in table.columns:
        if col.type == pa.list_(MEDIA_TYPE):  # a list of media (a run's history)
            arr = col.combine_chunks().flatten()
        elif col.type == MEDIA_TYPE:
            arr = col.combine_chunks()
        else:
            continue
        # A null cell's children are not necessarily null: go by the struct's validity.
        valid = arr.is_valid().to_pylist()
        fields = (arr.field(f).to_pylist() for f in ("digest", "ext", "extra"))
        for ok, d, e, x in zip(valid, *fields, strict=True):
            if not ok or not d or not e:
                continue
            names.add(blob_name(d, e))
            if x is not None:
                names.update(cell_blob_names({"digest": d, "ext": e, "extra": x}))
    return sorted(names)
