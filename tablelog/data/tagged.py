"""Rows of several increments in one object, each row's increment in ``_increment``
(docs/format.md, "Merged fragments" and "Fragments" of format 2): what a writer's merge
and a coalesced commit upload."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from tablelog.format.arrow_types import type_from_json
from tablelog.format.manifest import INCREMENT_COLUMN, Column


def conform(rows: pa.Table, schema: tuple[Column, ...], increment: int) -> pa.Table:
    """``rows`` with exactly ``schema``'s columns and types (absent ones null), then
    ``_increment`` = ``increment``. A column that cannot be cast raises Arrow's error."""
    n = rows.num_rows
    arrays, fields = [], []
    for c in schema:
        typ = type_from_json(c.arrow)
        if c.name in rows.column_names:
            col = rows.column(c.name)
            arrays.append(col if col.type == typ else col.cast(typ))
        else:
            arrays.append(pa.nulls(n, typ))
        fields.append(pa.field(c.name, typ))
    arrays.append(pa.array([increment] * n, pa.int64()))
    fields.append(pa.field(INCREMENT_COLUMN, pa.int64()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def tagged_rows(parts: Sequence[tuple[pa.Table, int]], schema: tuple[Column, ...]) -> pa.Table:
    """The rows of ``parts`` (rows, their increment) in order, as one table of
    ``schema`` plus ``_increment``."""
    return pa.concat_tables([conform(rows, schema, n) for rows, n in parts])
