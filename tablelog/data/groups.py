"""Column groups in the store: a Parquet object (encoded with the pinned settings of
:mod:`tablelog.data.parquet`) uploaded content-addressed with the media blobs its cells
refer to, and read back checked against its name."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tablelog.data.parquet import ROW_GROUP_ROWS, encode_parquet
from tablelog.errors import TableError
from tablelog.format import paths
from tablelog.format.chain import TableRef
from tablelog.format.manifest import INCREMENT_COLUMN, ColumnGroup
from tablelog.format.media_cells import media_blob_names
from tablelog.objects import deadline as store_deadline
from tablelog.objects.cas import digest_of, get_verified, put_content
from tablelog.objects.store import Store

#: Parallel blob uploads on network stores.
MEDIA_UPLOADS = 8


def upload_media(
    ref: TableRef, names: list[str], blobs: Mapping[str, bytes], *, present: set[str] | None = None
) -> None:
    """Upload the media blobs ``names`` (content-addressed, create-if-absent).

    Blobs in ``present`` (this writer committed them earlier) are skipped. Cells read
    back from the store (a scanned table logged again) carry no bytes: their blobs
    must already be there.
    """
    store = ref.store
    todo = [n for n in names if present is None or n not in present]

    def put(name: str) -> str | None:
        key = paths.media_blob_key(name)
        if name in blobs:
            put_content(store, key, blobs[name])
            return None
        return None if store.exists(key) else name

    if store.parallel_uploads and len(todo) > 1:
        with ThreadPoolExecutor(min(MEDIA_UPLOADS, len(todo))) as pool:
            missing = [n for n in pool.map(store_deadline.carried(put), todo) if n is not None]
    else:
        missing = [n for n in map(put, todo) if n is not None]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise TableError(
            f"table {ref.path}: media blob {missing[0]}{more} is neither in this table nor "
            f"in {store.url}; a media cell copied from another root needs its value "
            "(tablelog.media.load(cell, root=..., to='media'))"
        )


def read_group(
    store: Store, group: ColumnGroup, *, increments: tuple[int, int] | None = None
) -> pa.Table:
    """The rows of a committed group object, as they were uploaded (checked against
    its name: a Table reading back its released rows never gets other bytes); with
    ``increments`` (first, last), only those increments' rows of an object holding
    several, without their ``_increment`` column."""
    data = get_verified(store, paths.object_key(group.object), group.object)
    table = pq.read_table(pa.BufferReader(data))
    if increments is None:
        return table
    tags = table.column(INCREMENT_COLUMN)
    low, high = increments
    keep = pc.and_(pc.greater_equal(tags, low), pc.less_equal(tags, high))
    return table.filter(keep).drop_columns([INCREMENT_COLUMN])


def upload_group(
    ref: TableRef,
    data: pa.Table,
    blobs: Mapping[str, bytes] | None = None,
    *,
    present: set[str] | None = None,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> ColumnGroup:
    """Encode ``data`` as Parquet and upload it content-addressed.

    The media blobs its cells refer to are uploaded first (from ``blobs``; without
    ``blobs`` they must already be in the store, as when compacting), and listed in
    the group so that gc and verify know them.
    """
    media = media_blob_names(data)
    if media and blobs is not None:
        upload_media(ref, media, blobs, present=present)
    body = encode_parquet(data, row_group_rows=row_group_rows)
    digest = digest_of(body)
    put_content(ref.store, paths.object_key(digest), body)
    return ColumnGroup(
        object=digest, columns=tuple(data.column_names), size=len(body), media=tuple(media)
    )
