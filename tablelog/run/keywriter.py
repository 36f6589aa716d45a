"""Turning ``run.log({key: table})`` into commits: one KeyWriter per table key.

The writer remembers what it committed for the key (which Table, how many of its
rows, which columns, and the fragments holding them) so that a MUTABLE re-log
writes only new rows and new columns, and an INCREMENTAL log only new rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pyarrow as pa

from tablelog.errors import CommitConflictError
from tablelog.format import paths
from tablelog.format.chain import TableRef, refresh
from tablelog.format.commit import commit
from tablelog.format.manifest import Column, ColumnGroup
from tablelog.format.plan import Intent, NewFragment
from tablelog.format.state import TableState
from tablelog.objects.cas import digest_of, put_content
from tablelog.table.encode import encode_parquet
from tablelog.table.table import Table
from tablelog.table.types import type_to_json

log = logging.getLogger("tablelog")


def upload_group(ref: TableRef, data: pa.Table) -> ColumnGroup:
    """Encode ``data`` as Parquet and upload it content-addressed."""
    body = encode_parquet(data)
    digest = digest_of(body)
    put_content(ref.store, paths.object_key(digest), body)
    return ColumnGroup(object=digest, columns=tuple(data.column_names), size=len(body))


def schema_of(table: pa.Table, kinds: list[str | None]) -> tuple[Column, ...]:
    return tuple(
        Column(name=f.name, kind=kind or "null", arrow=type_to_json(f.type))
        for f, kind in zip(table.schema, kinds, strict=True)
    )


@dataclass
class KeyWriter:
    """Commit state of one table key in one run handle."""

    ref: TableRef
    writer: str
    state: TableState = field(default_factory=TableState)
    table_uid: str | None = None
    rows_logged: int = 0
    columns_logged: tuple[str, ...] = ()
    #: (fragment id, first row, end row) of this writer's rows, for MUTABLE add_column.
    ranges: list[tuple[str, int, int]] = field(default_factory=list)
    warned_immutable: bool = False

    def open(self) -> None:
        self.state = refresh(self.ref, self.state)

    def log(self, table: Table, *, step: int | None, separate: bool) -> bool:
        """Commit what ``table`` adds for this key; False when there was nothing new."""
        mode = table.log_mode
        if self.state.exists and self.state.mode != mode:
            raise CommitConflictError(
                f"table {self.ref.path!r} was logged as {self.state.mode}; this Table is "
                f"{mode}. Use the same log_mode for a key, or log under another key"
            )
        same = self.table_uid == table._uid
        if mode == "IMMUTABLE" and same:
            if not self.warned_immutable:
                log.warning(
                    "table %r is IMMUTABLE and was already logged under %r: the re-log "
                    "writes nothing (create a new Table to log a new version)",
                    self.ref.key,
                    self.ref.key,
                )
                self.warned_immutable = True
            return False
        arrow = table.to_arrow()
        kinds = list(table._kinds)
        schema = schema_of(arrow, kinds)
        base = Intent(mode=mode, writer=self.writer, step=step, schema=schema, separate=separate)
        if mode == "INCREMENTAL":
            start = self.rows_logged if same else 0
            if arrow.num_rows == start:
                self._adopt(table, arrow)
                return False
            group = upload_group(self.ref, arrow.slice(start))
            intent = _with(
                base,
                add=(NewFragment(rows=arrow.num_rows - start, groups=(group,)),),
                replace=separate,
            )
        elif mode == "MUTABLE" and same:
            new_cols = [c for c in arrow.column_names if c not in self.columns_logged]
            add_groups = []
            if new_cols:
                for fid, lo, hi in self.ranges:
                    part = arrow.select(new_cols).slice(lo, hi - lo)
                    add_groups.append((fid, upload_group(self.ref, part)))
            add: tuple[NewFragment, ...] = ()
            if arrow.num_rows > self.rows_logged:
                group = upload_group(self.ref, arrow.slice(self.rows_logged))
                add = (NewFragment(rows=arrow.num_rows - self.rows_logged, groups=(group,)),)
            if not add and not add_groups:
                return False
            intent = _with(base, add=add, add_groups=tuple(add_groups))
        else:  # IMMUTABLE, or a MUTABLE table new to this key: the whole table
            groups = (upload_group(self.ref, arrow),) if arrow.num_columns else ()
            add = (NewFragment(rows=arrow.num_rows, groups=groups),) if groups else ()
            intent = _with(base, add=add, replace=True)
            self.ranges = []
        before = self.state.version
        self.state = commit(self.ref, self.state, intent)
        new = [f for f in self.state.fragments if f.increment == self.state.version]
        if mode == "MUTABLE" and new:
            lo = arrow.num_rows - new[-1].rows
            self.ranges.append((new[-1].id, lo, arrow.num_rows))
        if mode == "MUTABLE" and not same:
            self.ranges = [(new[-1].id, 0, arrow.num_rows)] if new else []
        del before
        self._adopt(table, arrow)
        if mode == "IMMUTABLE":
            table._freeze()
        return True

    def _adopt(self, table: Table, arrow: pa.Table) -> None:
        self.table_uid = table._uid
        self.rows_logged = arrow.num_rows
        self.columns_logged = tuple(arrow.column_names)


def _with(base: Intent, **changes: object) -> Intent:
    import dataclasses

    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
