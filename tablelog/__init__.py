"""tablelog: W&B-style experiment tables in object storage, read back with Polars.

>>> import tablelog
>>> with tablelog.init(project="demo") as run:                      # doctest: +SKIP
...     run.log({"eval": tablelog.Table(columns=["a"], data=[[1]])})
>>> tablelog.scan(f"demo/{run.id}/eval").collect()                    # doctest: +SKIP
"""

import importlib
from typing import TYPE_CHECKING, Any

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
    NewerFormatError,
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
from tablelog.version import __version__ as __version__

if TYPE_CHECKING:
    from tablelog import media
    from tablelog.interop import to_iceberg
    from tablelog.maintenance import compact, gc, verify
    from tablelog.media import Audio, File, Html, Image, Video
    from tablelog.read import files, history, scan, scan_runs
    from tablelog.read.runs import runs
    from tablelog.session import PreInit as PreInit
    from tablelog.session import Settings, define_metric, finish, init, log, login
    from tablelog.table import Table
    from tablelog.writer import Run
    from tablelog.writer.spool import sync

    config: Any
    summary: Any

#: Public names and the modules that hold them, imported on first use: importing one
#: part of the package (``tablelog.table``, say) loads only the parts it needs.
_LAZY = {
    "media": "tablelog.media",
    "to_iceberg": "tablelog.interop",
    "compact": "tablelog.maintenance",
    "gc": "tablelog.maintenance",
    "verify": "tablelog.maintenance",
    "Audio": "tablelog.media",
    "File": "tablelog.media",
    "Html": "tablelog.media",
    "Image": "tablelog.media",
    "Video": "tablelog.media",
    "files": "tablelog.read",
    "history": "tablelog.read",
    "scan": "tablelog.read",
    "scan_runs": "tablelog.read",
    "runs": "tablelog.read.runs",
    "PreInit": "tablelog.session",
    "Settings": "tablelog.session",
    "define_metric": "tablelog.session",
    "finish": "tablelog.session",
    "init": "tablelog.session",
    "log": "tablelog.session",
    "login": "tablelog.session",
    "Table": "tablelog.table",
    "Run": "tablelog.writer",
    "sync": "tablelog.writer.spool",
}

#: The current run (W&B's ``wandb.run``): set by :func:`init`, ``None`` after ``finish``.
run: Any = None


def __getattr__(name: str) -> Any:
    """The public names of :data:`_LAZY`, and ``config``/``summary`` (W&B's
    ``wandb.config``/``wandb.summary``: the current run's, stand-ins before ``init``)."""
    if name in ("config", "summary"):
        from tablelog.session import PreInit

        value: Any = PreInit(f"tablelog.{name}")
    elif name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if name == "media" else getattr(module, name)
    else:
        raise AttributeError(f"module 'tablelog' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "NewerFormatError",
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
