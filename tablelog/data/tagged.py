"""Rows of several increments in one object, each row's increment in ``_increment``
(docs/format.md, "Merged fragments" and "Fragments" of format 2): what a writer's merge
and a coalesced commit upload."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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
    first = parts[0][0] if parts else None
    same = first is not None and all(rows.schema.equals(first.schema) for rows, _ in parts)
    if same and first is not None and _is_exactly(first.schema, schema):
        # The common case (one Table's logs): a few calls whatever the number of logs,
        # so the commit thread holds the GIL briefly (run.log waits for it).
        rows = pa.concat_tables([r for r, _ in parts])
        tags = np.repeat(np.array([n for _, n in parts], np.int64), [r.num_rows for r, _ in parts])
        return rows.append_column(pa.field(INCREMENT_COLUMN, pa.int64()), pa.array(tags))
    return pa.concat_tables([conform(rows, schema, n) for rows, n in parts])


def _is_exactly(actual: pa.Schema, schema: tuple[Column, ...]) -> bool:
    """Whether ``actual`` has ``schema``'s columns, in order, with exactly its types."""
    return actual.names == [c.name for c in schema] and all(
        f.type == type_from_json(c.arrow) for f, c in zip(actual, schema, strict=True)
    )
