"""The one error hierarchy of tablelog.

Every error raised on purpose derives from :class:`TablelogError`. Errors that mean
"bad argument" also derive from ``ValueError`` or ``TypeError`` and "not found" from
``FileNotFoundError``, so plain ``except`` clauses keep working.
"""

from __future__ import annotations


class TablelogError(Exception):
    """Root of every error tablelog raises on purpose."""


class InvalidNameError(TablelogError, ValueError):
    """A project, run id or table key that cannot be stored safely."""


class InvalidRootError(TablelogError, ValueError):
    """A root that cannot be what was meant (``s3:/bucket`` with one slash)."""


class InvalidArgumentError(TablelogError, ValueError):
    """An argument a function does not accept (``version=`` with ``step=``, a size below
    one, an unknown export format, ...): the message says which values it takes."""


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type (also a ``ValueError``, as every bad argument)."""


class TableError(TablelogError, ValueError):
    """A Table was used against its rules (wrong row length, mode rule, ...)."""


class ColumnTypeError(TablelogError, TypeError):
    """A value does not match the type its column already has."""


class MediaError(ColumnTypeError, ValueError):
    """A media value (Image, Audio, Video, ...) cannot be built from what it was given
    (a ``ValueError`` as in W&B, and a ``TypeError`` as every column type error)."""


class NotOptionalError(TableError, ColumnTypeError):
    """A null in a column that is not optional (a TypeError, as in W&B)."""


class NotFoundError(TablelogError, FileNotFoundError):
    """A root, run, table, version or object does not exist."""


class FormatError(TablelogError):
    """A manifest or object in the store is malformed, tampered with or too new."""


class NewerFormatError(FormatError):
    """An object in the store was written in a format newer than this tablelog reads:
    upgrade tablelog (nothing is read from it, and nothing overwrites it)."""


class StoreError(TablelogError):
    """The store failed or refused an operation (network, permissions, bucket).

    ``transient`` says what to do: True (:class:`StoreUnavailableError`) means the
    failure may go away by itself, so retrying later can succeed; False means retrying
    the same request will fail the same way until the caller changes something.
    """

    transient: bool = False


class StoreUnavailableError(StoreError):
    """The store failed for now (5xx, throttling, a timeout, a reset or refused
    connection): retry later, or let the run spool the log."""

    transient = True


class StoreRefusedError(StoreError):
    """The store refused the request for good (403, bad or missing credentials, 400):
    retrying will not help; fix the credentials, the bucket policy or the request."""


class UnsafeStoreError(StoreError):
    """The store cannot create objects exclusively, so concurrent commits are unsafe."""


class NotSupportedError(TablelogError, NotImplementedError):
    """The store cannot do this: its ``capabilities`` say so (an ordered listing, a
    modification time). Callers check ``store.capabilities`` first."""


class CommitConflictError(TablelogError):
    """A commit did not land, and will not by retrying it as it is.

    The base of three cases, each its own subclass (``except CommitConflictError``
    catches all of them):

    * :class:`TableSchemaError` (also a ``ValueError``): the caller's mistake, a log
      that does not fit the table (another ``log_mode``, a column of another type);
    * :class:`ConcurrentChangeError`: real contention, another writer changed the table
      in a way this commit cannot be rebased onto (or kept changing it);
    * :class:`CommitTimeoutError`: the commit's time budget ran out while other writers
      kept winning the race for the next version.
    """


class TableSchemaError(CommitConflictError, ValueError):
    """The log does not fit the table: a column's type clashes with the type the table
    already has. Log a table with matching types, or use another key."""


class ModeChangeError(TableSchemaError):
    """The log's ``log_mode`` is not the one the table was logged with."""


class ConcurrentChangeError(CommitConflictError):
    """Another writer changed the table in a way this commit cannot be rebased onto
    (the rows it adds columns to are gone, a column of the same name was added, a
    compaction kept being overtaken). Re-read the table and log again."""


class CommitTimeoutError(CommitConflictError):
    """The commit's time budget was spent losing races to other writers; nothing was
    committed. Retry later, or with fewer writers on one table."""


class CommitStateUnknownError(TablelogError):
    """A commit may or may not have landed; read the table back to find out."""


class RunError(TablelogError):
    """A run cannot be created, resumed or logged to as asked."""


#: W&B's ``wandb.Error``: ``except tablelog.Error`` catches every tablelog error.
Error = TablelogError
