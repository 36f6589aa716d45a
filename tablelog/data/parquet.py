"""Parquet encoding with pinned writer settings: same rows, same bytes, same digest."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

#: Pinned writer settings (docs/format.md, "Objects"). zstd level 1 without
#: dictionaries was both the fastest and the smallest on typical ML tables
#: (tests/benchmarks/bench_core.py); statistics stay on for predicate pushdown.
ROW_GROUP_ROWS = 1024 * 1024
#: Objects written for reading (compaction) are cut into up to this many row groups,
#: of at least ``MIN_GROUP_ROWS`` rows, so that a reader decodes them on several cores.
READ_GROUPS = 8
MIN_GROUP_ROWS = 4096


def read_group_rows(num_rows: int) -> int:
    """Rows per row group for an object of ``num_rows`` rows written for reading:
    a function of the row count alone, so equal rows still give equal bytes."""
    groups = max(1, min(READ_GROUPS, num_rows // MIN_GROUP_ROWS))
    return max(1, min(ROW_GROUP_ROWS, -(-num_rows // groups)))


def encode_parquet(table: pa.Table, *, row_group_rows: int = ROW_GROUP_ROWS) -> bytes:
    """Parquet bytes for ``table`` (deterministic for a given pyarrow version)."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table.replace_schema_metadata(None),
        sink,
        compression="zstd",
        compression_level=1,
        use_dictionary=False,
        write_statistics=True,
        row_group_size=row_group_rows,
        version="2.6",
        data_page_version="1.0",
    )
    return bytes(sink.getvalue().to_pybytes())
