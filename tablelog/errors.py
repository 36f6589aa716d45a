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


class StoreError(TablelogError):
    """The store failed or refused an operation (network, permissions, bucket)."""


class UnsafeStoreError(StoreError):
    """The store cannot create objects exclusively, so concurrent commits are unsafe."""


class CommitConflictError(TablelogError):
    """Another writer changed the table in a way this commit cannot be rebased onto."""


class CommitStateUnknownError(TablelogError):
    """A commit may or may not have landed; read the table back to find out."""


class RunError(TablelogError):
    """A run cannot be created, resumed or logged to as asked."""


#: W&B's ``wandb.Error``: ``except tablelog.Error`` catches every tablelog error.
Error = TablelogError
