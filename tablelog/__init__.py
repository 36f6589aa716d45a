"""tablelog: W&B-style experiment tables in object storage, read back with Polars.

>>> import tablelog
>>> with tablelog.init(project="demo") as run:                      # doctest: +SKIP
...     run.log({"eval": tablelog.Table(columns=["a"], data=[[1]])})
>>> tablelog.scan(f"demo/{run.id}/eval").collect()                    # doctest: +SKIP
"""

from typing import Any

from tablelog import media
from tablelog.errors import (
    ColumnTypeError,
    CommitConflictError,
    CommitStateUnknownError,
    CommitTimeoutError,
    ConcurrentChangeError,
    Error,
    FormatError,
    InvalidNameError,
    ModeChangeError,
    NotFoundError,
    NotSupportedError,
    RunError,
    StoreError,
    StoreRefusedError,
    StoreUnavailableError,
    TableError,
    TablelogError,
    TableSchemaError,
    UnsafeStoreError,
)
from tablelog.interop import to_iceberg
from tablelog.maintenance import compact, gc, verify
from tablelog.media import Audio, File, Html, Image, Video
from tablelog.read import files, history, scan, scan_runs
from tablelog.read.runs import runs
from tablelog.session import PreInit, Settings, define_metric, finish, init, log, login
from tablelog.table import Table
from tablelog.writer import Run
from tablelog.writer.spool import sync

#: The current run (W&B's ``wandb.run``): set by :func:`init`, ``None`` after ``finish``.
run: Any = None
#: The current run's ``config`` and ``summary`` (W&B's ``wandb.config``/``wandb.summary``).
config: Any = PreInit("tablelog.config")
summary: Any = PreInit("tablelog.summary")

__version__ = "0.1.0"


def clear_caches() -> None:
    """Forget what this process keeps for re-reads: table states, open S3 clients,
    Polars types, the viewer's frames (:mod:`tablelog.caches`, their one owner).

    Every cache is bounded and keyed by content (a manifest's digest) or identity
    (URL, options, AWS environment), so clearing is never needed for correctness;
    benchmarks use it to time a cold read.
    """
    from tablelog import caches

    caches.clear()


__all__ = [
    "Audio",
    "ColumnTypeError",
    "CommitConflictError",
    "CommitStateUnknownError",
    "CommitTimeoutError",
    "ConcurrentChangeError",
    "Error",
    "File",
    "FormatError",
    "Html",
    "Image",
    "InvalidNameError",
    "ModeChangeError",
    "NotFoundError",
    "NotSupportedError",
    "Run",
    "RunError",
    "Settings",
    "StoreError",
    "StoreRefusedError",
    "StoreUnavailableError",
    "Table",
    "TableError",
    "TableSchemaError",
    "TablelogError",
    "UnsafeStoreError",
    "Video",
    "clear_caches",
    "compact",
    "config",
    "define_metric",
    "files",
    "finish",
    "gc",
    "history",
    "init",
    "log",
    "login",
    "media",
    "run",
    "runs",
    "scan",
    "scan_runs",
    "summary",
    "sync",
    "to_iceberg",
    "verify",
]
