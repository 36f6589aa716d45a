"""Parquet encoding with pinned writer settings: same rows, same bytes, same digest."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

#: Pinned writer settings (docs/format.md, "Objects"). zstd level 1 without
#: dictionaries was both the fastest and the smallest on typical ML tables
#: (tests/benchmarks/bench_core.py); statistics stay on for predicate pushdown.
ROW_GROUP_ROWS = 1024 * 1024


def encode_parquet(table: pa.Table) -> bytes:
    """Parquet bytes for ``table`` (deterministic for a given pyarrow version)."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table.replace_schema_metadata(None),
        sink,
        compression="zstd",
        compression_level=1,
        use_dictionary=False,
        write_statistics=True,
        row_group_size=ROW_GROUP_ROWS,
        version="2.6",
        data_page_version="1.0",
    )
    return bytes(sink.getvalue().to_pybytes())
