"""Parquet encoding with pinned writer settings: same rows, same bytes, same digest."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 128 * 1024


def encode_parquet(table: pa.Table) -> bytes:
    """Parquet bytes for ``table`` (deterministic for a given pyarrow version)."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table.replace_schema_metadata(None),
        sink,
        compression="zstd",
        compression_level=3,
        use_dictionary=True,
        write_statistics=True,
        row_group_size=ROW_GROUP_ROWS,
        version="2.6",
        data_page_version="1.0",
    )
    return bytes(sink.getvalue().to_pybytes())
