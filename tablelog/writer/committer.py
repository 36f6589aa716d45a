"""Turning LogJobs into objects and manifests, in log order per key."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from tablelog.data.groups import upload_group
from tablelog.errors import (
    CommitStateUnknownError,
    StoreError,
    StoreRefusedError,
    UnsafeStoreError,
)
from tablelog.format.chain import TableRef, latest_version, load_version, refresh
from tablelog.format.commit import commit
from tablelog.format.manifest import ColumnGroup, Fragment
from tablelog.format.plan import Intent, NewFragment
from tablelog.format.state import TableState
from tablelog.objects import deadline as store_deadline
from tablelog.writer.keylog import LogJob
from tablelog.writer.merge import Tail

log = logging.getLogger("tablelog")


@dataclass
class KeyCommitter:
    """The committed state of one key, and this writer's fragments in it."""

    ref: TableRef
    writer: str
    state: TableState = field(default_factory=TableState)
    #: (fragment id, first row, end row) of the logged Table's rows, for add_column.
    ranges: list[tuple[str, int, int]] = field(default_factory=list)
    #: Media blobs a committed version of this writer references (no re-upload).
    media_present: set[str] = field(default_factory=set)
    #: Told (on the committing thread) of each committed job whose rows one group holds.
    on_landed: Callable[[LogJob, ColumnGroup], None] | None = None
    #: This writer's INCREMENTAL fragments since the last checkpoint, to merge at the next.
    tail: Tail = field(default_factory=Tail)

    def open(self) -> TableState:
        self.state = refresh(self.ref, self.state)
        return self.state

    def apply(
        self,
        job: LogJob,
        *,
        rows_group: Future[ColumnGroup] | None = None,
        check: Callable[[], None] | None = None,
    ) -> None:
        """Commit ``job``; ``rows_group`` is its rows' upload if it was started early.

        While the store fails the commit is retried with backoff for up to
        ``job.retry_for`` seconds, then the last error is raised (the run spools the
        log); a refusal that retrying cannot fix (``StoreRefusedError``: 403, bad
        credentials, 400) is raised at once. This loop is the only one that retries:
        store operations inside it are single requests and no retry starts after the
        deadline (``objects.deadline``), so against a failing store ``apply`` returns
        within ``retry_for`` plus one request timeout. A retry first checks whether the
        previous attempt landed after all (its log id). ``check`` runs first in each
        attempt (the run's store probe, until it has passed).
        """
        until = time.monotonic() + job.retry_for
        with store_deadline.deadline(until):
            self._apply_until(job, rows_group, until, check)

    def _apply_until(
        self,
        job: LogJob,
        rows_group: Future[ColumnGroup] | None,
        until: float,
        check: Callable[[], None] | None,
    ) -> None:
        delay, attempt = 0.5, 0
        while True:
            before = self.state.version
            try:
                if check is not None:
                    check()
                self.apply_once(job, rows_group if attempt == 0 else None)
                if attempt:
                    log.warning("tablelog: %s reachable again; logs resumed", self.ref.store.url)
                return
            except (StoreError, CommitStateUnknownError) as e:
                pause = delay * random.uniform(0.5, 1.0)
                # A refusal (403, bad credentials, 400) will not pass: raise it at once.
                refused = isinstance(e, UnsafeStoreError | StoreRefusedError)
                if refused or time.monotonic() + pause >= until:
                    raise
                if attempt == 0:
                    log.warning(
                        "tablelog: cannot commit to %s (%s); retrying, logs are queued",
                        self.ref.store.url,
                        e,
                    )
            attempt += 1
            time.sleep(pause)
            delay = min(delay * 2, 30.0)
            try:
                if self.landed(job, before):
                    return
            except (StoreError, CommitStateUnknownError):
                if time.monotonic() >= until:  # no request starts after the deadline
                    raise

    def landed(self, job: LogJob, before: int) -> bool:
        """Whether a version after ``before`` carries ``job``'s log id (then adopt it);
        also the spool's first check of each entry it pushes."""
        latest = latest_version(self.ref, hint=before)
        for version in range(before + 1, latest + 1):
            manifest, _ = self.ref.read_manifest(version)
            if manifest.extra.get("log") == job.log_id:
                self.state = load_version(self.ref, version, base=self.state)
                self.tail.track(self.state, job)
                moved = [fid for fid, _ in manifest.change.add_groups]
                if moved and moved != [fid for fid, _, _ in self.ranges]:  # rebased
                    self.ranges = _ranges_of(self.state.fragments, len(moved))
                added = manifest.change.add[-1] if manifest.change.add else None
                self._after_commit(job, added.rows if added else 0, added.groups if added else ())
                return True
        return False

    def apply_once(
        self, job: LogJob, rows_group: Future[ColumnGroup] | None, *, once: bool = False
    ) -> bool:
        """Commit ``job`` in one attempt (no retries); True when done. With ``once`` (a
        spool push, which another process may push too), a version that carries its log
        id already, met while rebasing, is adopted instead (False)."""
        add_groups = []
        if job.new_columns is not None:
            for fid, lo, hi in self.ranges:
                part = job.new_columns.slice(lo, hi - lo)
                add_groups.append(
                    (fid, upload_group(self.ref, part, job.blobs, present=self.media_present))
                )
        add: tuple[NewFragment, ...] = ()
        if job.writes_rows:
            assert job.rows is not None
            group = (
                rows_group.result()
                if rows_group
                else upload_group(self.ref, job.rows, job.blobs, present=self.media_present)
            )
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
            extra=(("log", job.log_id),),
        )
        plan: Intent | Callable[[TableState], Intent] = self._merging(job, intent)
        recut: list[Intent] = []
        if add_groups:
            plan = self._rebasing(job, intent, recut)
        if once:
            plan = _unless_landed(self.ref, job.log_id, self.state.version, plan)
        before = self.state.version
        try:
            self.state = commit(self.ref, self.state, plan)
        except _Landed:
            if self.landed(job, before):
                return False
            raise
        if recut:  # the columns went to the fragments a compaction left instead
            add_groups = list(recut[-1].add_groups)
            self.ranges = _ranges_of(self.state.fragments, len(add_groups))
        self.tail.track(self.state, job)
        added = {m for _fid, g in add_groups for m in g.media}
        added.update(m for f in add for g in f.groups for m in g.media)
        if added:  # a new set, not an update: the caller's thread reads the old one
            self.media_present = self.media_present | added
        self._after_commit(job, add[0].rows if add else 0, add[0].groups if add else ())
        return True

    def _rebasing(
        self, job: LogJob, intent: Intent, recut: list[Intent]
    ) -> Callable[[TableState], Intent]:
        """``intent`` (adding columns to this writer's fragments), or, when a compaction
        replaced those fragments by others holding the same rows, the new columns cut
        along the fragments that hold them now (appended to ``recut``)."""
        mine = {fid: hi - lo for fid, lo, hi in self.ranges}
        base = self.state.version
        new_columns = job.new_columns
        assert new_columns is not None

        def choose(current: TableState) -> Intent:
            recut.clear()
            rows = {f.id: f.rows for f in current.fragments}
            if all(rows.get(fid) == n for fid, n in mine.items()):
                return intent
            # Compaction keeps the rows and their order: if this writer's rows, from the
            # first, are all the rows of the table, they are the first fragments' rows.
            starts = [lo for _, lo, _ in self.ranges]
            ends = [hi for _, _, hi in self.ranges]
            contiguous = starts[:1] == [0] and starts[1:] == ends[:-1]
            covered = ends[-1] if ends else 0
            if not contiguous or covered != new_columns.num_rows or current.rows < covered:
                return intent  # the plan refuses it, naming the fragment that is gone
            if not _only_compacted(self.ref, base, current.version):
                return intent  # another writer replaced the rows: a conflict
            groups, at = [], 0
            for f in current.fragments:
                if at >= covered:
                    break
                if at + f.rows > covered:
                    return intent  # a fragment mixing this writer's rows with later ones
                part = new_columns.slice(at, f.rows)
                groups.append(
                    (f.id, upload_group(self.ref, part, job.blobs, present=self.media_present))
                )
                at += f.rows
            rebased = dataclasses.replace(intent, add_groups=tuple(groups))
            recut.append(rebased)
            return rebased

        return choose

    def _merging(self, job: LogJob, intent: Intent) -> Intent | Callable[[TableState], Intent]:
        """``intent``, merging this writer's tail first when the next version is a
        checkpoint (module ``merge``); after a rebase only if it still applies to the
        new parent. The merged object is uploaded once a plan takes it."""
        if not self.tail.due(self.state, job):
            return intent
        rows = self.tail.merged(self.state, job)
        if rows is None:
            return intent
        planned = self.state.version
        uploaded: list[ColumnGroup] = []

        def choose(current: TableState) -> Intent:
            if current.version != planned and not self.tail.due(current, job):
                return intent
            if not uploaded:
                uploaded.append(upload_group(self.ref, rows))
            first = self.tail.fragments[0].increment
            merged = NewFragment(rows=rows.num_rows, groups=(uploaded[0],), increment=first)
            return dataclasses.replace(intent, remove=self.tail.ids, add=(merged, *intent.add))

        return choose

    def _after_commit(self, job: LogJob, added_rows: int, groups: tuple[ColumnGroup, ...]) -> None:
        rows = job.rows
        whole = (
            rows is not None
            and len(groups) == 1
            and added_rows == rows.num_rows
            and groups[0].columns == tuple(rows.column_names)
        )
        if self.on_landed is not None and whole:  # one object holds exactly the rows
            self.on_landed(job, groups[0])
        if job.replace:
            self.ranges = []
        if job.mode == "MUTABLE" and job.writes_rows:
            fid = self.state.fragments[-1].id
            self.ranges.append((fid, job.first_row, job.first_row + added_rows))


def _ranges_of(fragments: tuple[Fragment, ...], n: int) -> list[tuple[str, int, int]]:
    """(fragment id, first row, end row) of the first ``n`` fragments."""
    out, at = [], 0
    for f in fragments[:n]:
        out.append((f.id, at, at + f.rows))
        at += f.rows
    return out


class _Landed(Exception):
    """The log being committed is in a version another process committed."""


def _unless_landed(
    ref: TableRef, log_id: str, base: int, plan: Intent | Callable[[TableState], Intent]
) -> Callable[[TableState], Intent]:
    """``plan``, checking each version that a rebase passes over for ``log_id``."""
    seen = [base]

    def choose(current: TableState) -> Intent:
        for version in range(seen[0] + 1, current.version + 1):
            manifest, _ = ref.read_manifest(version)
            if manifest.extra.get("log") == log_id:
                raise _Landed(log_id)
        seen[0] = max(seen[0], current.version)
        return plan(current) if callable(plan) else plan

    return choose


def _only_compacted(ref: TableRef, base: int, version: int) -> bool:
    """Whether every version after ``base`` up to ``version`` that replaced the table's
    fragments was a compaction (the same rows in the same order)."""
    for v in range(base + 1, version + 1):
        m, _ = ref.read_manifest(v)
        if m.change.replace and m.extra.get("operation") != "compact":
            return False
    return True
