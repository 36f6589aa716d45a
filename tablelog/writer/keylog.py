"""What a ``run.log({key: table})`` writes, decided in the caller (no I/O).

A :class:`KeyLog` remembers, per key, which Table was logged last and how many of
its rows and which of its columns are already on their way to the store, so that a
MUTABLE re-log sends only new rows and new columns and an INCREMENTAL log only new
rows. The result is a :class:`LogJob` of immutable Arrow slices (or plain rows the commit
thread converts: :class:`~tablelog.table.plain_rows.DeferredRows`) that the committer
(possibly on a background thread) turns into objects and a manifest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pyarrow as pa

from tablelog.errors import ColumnTypeError, ModeChangeError, TableSchemaError
from tablelog.format.arrow_types import type_to_json
from tablelog.format.manifest import Column
from tablelog.format.plan import merge_schema
from tablelog.ids import random_hex
from tablelog.table.plain_rows import DeferredRows
from tablelog.table.table import (
    Table,
    freeze,
    hand_over,
    logged_as,
    table_blobs,
    table_generation,
    table_kinds,
    table_uid,
)

log = logging.getLogger("tablelog")


@dataclass(frozen=True, kw_only=True)
class LogJob:
    """One commit of one key, as Arrow slices that no later edit can change."""

    key: str
    mode: str
    step: int | None
    separate: bool
    schema: tuple[Column, ...]
    replace: bool = False
    #: New rows with every column (the whole table for a replace): Arrow, or plain rows
    #: converted on first use of :attr:`rows` (off the caller's thread, as a rule).
    given: pa.Table | DeferredRows | None = None
    #: Index of ``rows``' first row in the logged Table.
    first_row: int = 0
    #: Columns new since the last log, over the rows logged before (MUTABLE).
    new_columns: pa.Table | None = None
    #: Bytes of the media blobs the cells may refer to, by blob name (the Table's own
    #: map, only ever added to; looked up, never iterated, off the caller's thread).
    blobs: Mapping[str, bytes] = field(default_factory=dict)

    #: Recorded in the manifest (``extra.log``; format 2: its increment) so a retry can
    #: tell whether it landed.
    log_id: str = field(default_factory=random_hex)
    #: When it was logged (format 2 records it as the increment's time).
    time: float = field(default_factory=time.time)
    #: How long a commit keeps retrying while the store is unreachable.
    retry_for: float = 10.0
    #: (Table uid, Table generation) of INCREMENTAL ``rows``: whose rows these are, so
    #: the Table can release them once they are committed.
    source: tuple[str, int] | None = None

    @property
    def rows(self) -> pa.Table | None:
        """The new rows as Arrow (deferred rows are converted here, once)."""
        given = self.given
        return given.table() if isinstance(given, DeferredRows) else given

    @property
    def row_count(self) -> int:
        """How many new rows, without converting deferred ones."""
        return 0 if self.given is None else self.given.num_rows

    @property
    def nbytes(self) -> int:
        """The job's bytes for the queue's budget, without converting deferred rows."""
        given, size = self.given, 0
        if isinstance(given, DeferredRows):
            size = given.nbytes
        elif given is not None:
            size = arrow_bytes(given)
        return size + (0 if self.new_columns is None else arrow_bytes(self.new_columns))

    @property
    def writes_rows(self) -> bool:
        """Whether the commit adds a fragment of ``rows`` (its upload can start early)."""
        rows = self.given
        return rows is not None and rows.num_columns > 0 and (rows.num_rows > 0 or self.replace)


#: Above this many buffer bytes, a table's bytes are counted exactly.
_EXACT_BYTES_ABOVE = 64 * 1024


def arrow_bytes(table: pa.Table) -> int:
    """Bytes of ``table`` for the queue's and the merge's budgets, cheaply.

    ``nbytes`` is exact for slices but releases the GIL, so on the caller's thread it
    can hand the GIL to the commit thread and wait for it back; the buffer total holds
    the GIL and over-counts only slices, which matters only for large ones.
    """
    total = int(table.get_total_buffer_size())
    return total if total <= _EXACT_BYTES_ABOVE else int(table.nbytes)


def schema_of(table: pa.Table | DeferredRows, kinds: list[str | None]) -> tuple[Column, ...]:
    return tuple(
        Column(name=f.name, kind=kind or "null", arrow=type_to_json(f.type))
        for f, kind in zip(table.schema, kinds, strict=True)
    )


@dataclass
class KeyLog:
    """Caller-side bookkeeping of one key in one run handle."""

    key: str
    path: str
    #: The key's mode in the store (or of this handle's first log), for early errors.
    mode: str | None = None
    table_uid: str | None = None
    rows_logged: int = 0
    columns_logged: tuple[str, ...] = ()
    warned_immutable: bool = False
    retry_for: float = 10.0
    #: The key's columns as this handle last sent them (or as committed when it
    #: opened the key): a log whose types these cannot take is refused in run.log.
    schema: tuple[Column, ...] = ()
    _next: tuple[Table, int, tuple[str, ...], tuple[Column, ...] | None] | None = None
    #: The last (Arrow schema, kinds, columns) of :func:`schema_of`: a key's logs of one
    #: Table usually repeat it, and run.log need not build it again.
    _schema_memo: tuple[pa.Schema, tuple[str | None, ...], tuple[Column, ...]] | None = None

    def prepare(self, table: Table, *, step: int | None, separate: bool) -> LogJob | None:
        """The job for logging ``table`` now, or None when there is nothing new.

        Nothing changes until :meth:`confirm`: a log refused here (a mode clash, a
        column whose type the key's committed column cannot take) leaves the key as it
        was, so that the refusal happens in ``run.log`` and never in the commit thread.
        """
        mode = table.log_mode
        if self.mode is not None and self.mode != mode:
            raise ModeChangeError(
                f"table {self.path!r} was logged as {self.mode}; this Table is {mode}. "
                "Use the same log_mode for a key, or log under another key"
            )
        same = self.table_uid == table_uid(table)
        self._next = None
        if mode == "IMMUTABLE" and same:
            if not self.warned_immutable:
                log.warning(
                    "table %r is IMMUTABLE and was already logged: the re-log writes nothing "
                    "(create a new Table to log a new version)",
                    self.key,
                )
                self.warned_immutable = True
            return None
        if mode == "INCREMENTAL":
            # Only the new rows are touched: the cost of a log does not grow with history.
            start = self.rows_logged if same else 0
            rows = hand_over(table, start)
            self._next = (table, start + rows.num_rows, tuple(rows.column_names), None)
            if not rows.num_rows and (same or not rows.num_columns):
                return None  # (a Table's first log makes an increment even if empty)
            schema = self._schema_of(rows, table_kinds(table))
            self._next = (
                table,
                start + rows.num_rows,
                tuple(rows.column_names),
                self._merged(schema, replace=separate),
            )
            return LogJob(
                key=self.key,
                mode=mode,
                step=step,
                separate=separate,
                schema=schema,
                retry_for=self.retry_for,
                replace=separate,
                given=rows,
                first_row=start,
                blobs=table_blobs(table),
                source=(table_uid(table), table_generation(table)),
            )
        arrow = table.to_arrow()
        base = LogJob(
            key=self.key,
            mode=mode,
            step=step,
            separate=separate,
            schema=schema_of(arrow, table_kinds(table)),
            retry_for=self.retry_for,
            blobs=table_blobs(table),
        )
        job: LogJob | None
        if mode == "MUTABLE" and same:
            new_cols = [c for c in arrow.column_names if c not in self.columns_logged]
            prior = self.rows_logged
            new_columns = arrow.select(new_cols).slice(0, prior) if new_cols else None
            rows = arrow.slice(prior) if arrow.num_rows > prior else None
            job = None
            if rows is not None or new_columns is not None:
                job = replace(base, given=rows, first_row=prior, new_columns=new_columns)
        else:  # IMMUTABLE, or a MUTABLE table new to this key: the whole table
            job = replace(base, replace=True, given=arrow)
        merged = self._merged(base.schema, replace=job is not None and job.replace)
        self._next = (table, arrow.num_rows, tuple(arrow.column_names), merged)
        return job

    def confirm(self) -> None:
        """The job :meth:`prepare` returned is handed over: remember what it sent."""
        if self._next is None:
            return
        table, rows, columns, schema = self._next
        self._next = None
        if schema is not None:
            self.schema = schema
        self._adopt(table, rows, columns)
        if table.log_mode == "IMMUTABLE":
            freeze(table)
        elif table.log_mode == "INCREMENTAL" or table.log_mode == "MUTABLE":
            logged_as(table, self.schema)

    def _schema_of(
        self, rows: pa.Table | DeferredRows, kinds: list[str | None]
    ) -> tuple[Column, ...]:
        arrow, memo = rows.schema, self._schema_memo
        if memo is not None and memo[1] == tuple(kinds) and memo[0].equals(arrow):
            return memo[2]
        columns = schema_of(rows, kinds)
        self._schema_memo = (arrow, tuple(kinds), columns)
        return columns

    def _merged(self, schema: tuple[Column, ...], *, replace: bool) -> tuple[Column, ...]:
        """The key's schema after a log of ``schema``; a ColumnTypeError (in run.log)
        when a committed column cannot take this log's type."""
        if replace or not self.schema:
            return schema
        if schema == self.schema:
            return schema
        try:
            return merge_schema(self.schema, schema, replace=False)
        except TableSchemaError as e:
            raise ColumnTypeError(f"cannot log {self.path!r}: {e}") from e

    def _adopt(self, table: Table, rows: int, columns: tuple[str, ...]) -> None:
        self.mode = table.log_mode
        self.table_uid = table_uid(table)
        self.rows_logged = rows
        self.columns_logged = columns
