"""tablelog: W&B-style experiment tables in object storage, read back with Polars.

>>> import tablelog
>>> with tablelog.init(project="demo") as run:                      # doctest: +SKIP
...     run.log({"eval": tablelog.Table(columns=["a"], data=[[1]])})
>>> tablelog.scan(f"demo/{run.id}/eval").collect()                    # doctest: +SKIP
"""

from tablelog import media
from tablelog.errors import (
    ColumnTypeError,
    CommitConflictError,
    CommitStateUnknownError,
    FormatError,
    InvalidNameError,
    NotFoundError,
    RunError,
    StoreError,
    TableError,
    TablelogError,
    UnsafeStoreError,
)
from tablelog.interop import to_iceberg
from tablelog.maintenance import compact, gc, verify
from tablelog.media import Audio, File, Html, Image, Video
from tablelog.read import files, history, scan, scan_runs
from tablelog.table import Table
from tablelog.writer import Run, init
from tablelog.writer.spool import sync

__version__ = "0.1.0"


def clear_caches() -> None:
    """Forget the table states and open S3 clients this process keeps for re-reads.

    Both caches are bounded and keyed by content (a manifest's digest) or identity
    (URL, options, AWS environment), so clearing is never needed for correctness;
    benchmarks use it to time a cold read.
    """
    from tablelog.format.chain import STATES
    from tablelog.objects.open import clear_store_cache

    STATES.clear()
    clear_store_cache()


__all__ = [
    "Audio",
    "ColumnTypeError",
    "CommitConflictError",
    "CommitStateUnknownError",
    "File",
    "FormatError",
    "Html",
    "Image",
    "InvalidNameError",
    "NotFoundError",
    "Run",
    "RunError",
    "StoreError",
    "Table",
    "TableError",
    "TablelogError",
    "UnsafeStoreError",
    "Video",
    "clear_caches",
    "compact",
    "files",
    "gc",
    "history",
    "init",
    "media",
    "scan",
    "scan_runs",
    "sync",
    "to_iceberg",
    "verify",
]
