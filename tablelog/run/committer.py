"""Turning LogJobs into objects and manifests, in log order per key."""

from __future__ import annotations

from concurrent.futures import Future
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

    def apply(self, job: LogJob, *, rows_group: Future[ColumnGroup] | None = None) -> None:
        """Commit ``job``; ``rows_group`` is its rows' upload if it was started early."""
        add_groups = []
        if job.new_columns is not None:
            for fid, lo, hi in self.ranges:
                part = job.new_columns.slice(lo, hi - lo)
                add_groups.append((fid, upload_group(self.ref, part)))
        add: tuple[NewFragment, ...] = ()
        if job.writes_rows:
            assert job.rows is not None
            group = rows_group.result() if rows_group else upload_group(self.ref, job.rows)
            add = (NewFragment(rows=job.rows.num_rows, groups=(group,)),)
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
