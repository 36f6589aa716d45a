"""Turning LogJobs into objects and manifests, in log order per key."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from tablelog.format import paths
from tablelog.format.chain import TableRef, refresh
from tablelog.format.commit import commit
from tablelog.format.manifest import ColumnGroup
from tablelog.format.plan import Intent, NewFragment
from tablelog.format.state import TableState
from tablelog.objects.cas import digest_of, put_content
from tablelog.run.keylog import LogJob
from tablelog.table.encode import encode_parquet


def upload_group(ref: TableRef, data: pa.Table) -> ColumnGroup:
    """Encode ``data`` as Parquet and upload it content-addressed."""
    body = encode_parquet(data)
    digest = digest_of(body)
    put_content(ref.store, paths.object_key(digest), body)
    return ColumnGroup(object=digest, columns=tuple(data.column_names), size=len(body))


@dataclass
class KeyCommitter:
    """The committed state of one key, and this writer's fragments in it."""

    ref: TableRef
    writer: str
    state: TableState = field(default_factory=TableState)
    #: (fragment id, first row, end row) of the logged Table's rows, for add_column.
    ranges: list[tuple[str, int, int]] = field(default_factory=list)

    def open(self) -> TableState:
        self.state = refresh(self.ref, self.state)
        return self.state

    def apply(self, job: LogJob) -> None:
        add_groups = []
        if job.new_columns is not None:
            for fid, lo, hi in self.ranges:
                part = job.new_columns.slice(lo, hi - lo)
                add_groups.append((fid, upload_group(self.ref, part)))
        add: tuple[NewFragment, ...] = ()
        rows = job.rows
        if rows is not None and rows.num_columns and (rows.num_rows or job.replace):
            add = (NewFragment(rows=rows.num_rows, groups=(upload_group(self.ref, rows),)),)
        intent = Intent(
            mode=job.mode,
            writer=self.writer,
            step=job.step,
            schema=job.schema,
            replace=job.replace,
            add=add,
            add_groups=tuple(add_groups),
            separate=job.separate,
        )
        self.state = commit(self.ref, self.state, intent)
        if job.replace:
            self.ranges = []
        if job.mode == "MUTABLE" and add:
            fid = self.state.fragments[-1].id
            self.ranges.append((fid, job.first_row, job.first_row + add[0].rows))
