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
from tablelog.run import Run, init
from tablelog.run.spool import sync
from tablelog.table import Table

__version__ = "0.1.0"

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
