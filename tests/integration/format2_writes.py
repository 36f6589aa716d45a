"""Writing format-2 chains for tests (docs/format.md, "Format 2"): group commits of
logs, in their own objects or combined into one object per commit, and format-2
compactions, through the format layer's planner and commit protocol: the readers' tests
choose every grouping and object layout here, which a run's commit thread chooses by
timing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from tablelog.data.groups import upload_group
from tablelog.data.tagged import tagged_rows
from tablelog.format.arrow_types import type_to_json
from tablelog.format.chain import TableRef
from tablelog.format.commit import commit
from tablelog.format.manifest import Column
from tablelog.format.plan import GroupIntent, Intent, LogIntent, NewFragment, merge_schema
from tablelog.format.state import TableState
from tablelog.ids import random_hex


@dataclass(frozen=True)
class Log:
    """One ``run.log`` of an INCREMENTAL key: its step and the rows it adds."""

    step: int | None
    rows: pa.Table


def schema_of(rows: pa.Table) -> tuple[Column, ...]:
    return tuple(
        Column(name=f.name, kind="number" if pa.types.is_integer(f.type) else "str",
               arrow=type_to_json(f.type))
        for f in rows.schema
    )  # fmt: skip


def commit_group(
    ref: TableRef,
    state: TableState,
    logs: Sequence[Log],
    *,
    combine: bool,
    mode: str = "INCREMENTAL",
    separate: bool = False,
    time: float = 1.0,
) -> TableState:
    """Commit ``logs`` as one format-2 version on ``state``; with ``combine``, all their
    rows in one object with ``_increment`` (numbered for ``state``)."""
    first = state.increment_count or 0
    schemas = [schema_of(log.rows) for log in logs]
    combined: tuple[NewFragment, ...] = ()
    if combine:
        schema = state.schema
        for s in schemas:
            schema = merge_schema(schema, s, replace=False)
        parts = [(log.rows, first + i) for i, log in enumerate(logs) if log.rows.num_rows]
        if parts:
            rows = tagged_rows(parts, schema)
            combined = (
                NewFragment(
                    rows=rows.num_rows,
                    groups=(upload_group(ref, rows),),
                    increment=parts[0][1],
                    last_increment=parts[-1][1],
                ),
            )

    def own(rows: pa.Table) -> tuple[NewFragment, ...]:
        if combine or not rows.num_rows:
            return ()
        return (NewFragment(rows=rows.num_rows, groups=(upload_group(ref, rows),)),)

    intents = tuple(
        LogIntent(
            log_id=random_hex(),
            step=log.step,
            time=time + i,
            schema=s,
            add=own(log.rows),
            combined_rows=log.rows.num_rows if combine else 0,
        )
        for i, (log, s) in enumerate(zip(logs, schemas, strict=True))
    )
    group = GroupIntent(mode=mode, writer="t", logs=intents, separate=separate, combined=combined)
    return commit(ref, state, group)


def commit_log(
    ref: TableRef, state: TableState, mode: str, rows: pa.Table, *, step: int, replace: bool
) -> TableState:
    """A format-2 MUTABLE or IMMUTABLE log (one version, one increment)."""
    intent = Intent(
        mode=mode,
        writer="t",
        step=step,
        schema=schema_of(rows),
        replace=replace,
        add=(NewFragment(rows=rows.num_rows, groups=(upload_group(ref, rows),)),),
        extra=(("log", random_hex()),),
        format_version=2,
    )
    return commit(ref, state, intent)


def compact(ref: TableRef, state: TableState, rows: pa.Table) -> TableState:
    """A format-2 compaction of INCREMENTAL ``state``: ``rows`` (every row, with
    ``_increment``) in one object replacing every fragment, no increment added."""
    count = state.increment_count or 0
    group = upload_group(ref, rows)
    first = min(rows.column("_increment").to_pylist(), default=0)
    intent = Intent(
        mode=state.mode or "INCREMENTAL",
        writer="t",
        step=state.step,
        schema=state.schema,
        replace=True,
        add=(NewFragment(rows=rows.num_rows, groups=(group,), increment=first,
                         last_increment=count - 1),),
        extra=(("operation", "compact"),),
    )  # fmt: skip
    return commit(ref, state, intent)
