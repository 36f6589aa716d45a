"""Turning LogJobs into objects and manifests, in log order per key."""

from __future__ import annotations

import collections
import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import pyarrow as pa

from tablelog.data.groups import upload_group
from tablelog.data.tagged import tagged_rows
from tablelog.errors import (
    CommitStateUnknownError,
    StoreError,
    StoreRefusedError,
    UnsafeStoreError,
)
from tablelog.format.chain import TableRef, latest_version, load_version, refresh
from tablelog.format.commit import commit
from tablelog.format.manifest import (
    FORMAT_VERSION,
    INCREMENT_COLUMN,
    ColumnGroup,
    Fragment,
    log_ids,
)
from tablelog.format.media_cells import media_blob_names
from tablelog.format.plan import GroupIntent, Intent, LogIntent, NewFragment
from tablelog.format.state import TableState
from tablelog.objects import deadline as store_deadline
from tablelog.writer.keylog import LogJob
from tablelog.writer.merge import Tail

log = logging.getLogger("tablelog")

#: The most logs the commit thread puts in one commit (the format allows
#: MAX_COMMIT_INCREMENTS). The thread holds the GIL for work that grows with a commit's
#: logs (its plan, manifest, rows); smaller commits keep a caller's wait for it short
#: (docs/speed.md, "Where the time goes").
GROUP_LOGS = 32


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
    #: Told (on the committing thread) of each committed job whose rows one group holds
    #: (with the job's increment when the group holds other logs' rows too).
    on_landed: Callable[[LogJob, ColumnGroup, int | None], None] | None = None
    #: This writer's INCREMENTAL fragments since the last checkpoint, to merge at the next.
    tail: Tail = field(default_factory=Tail)
    #: The format of the table if this writer creates it (``chain.write_format``); a
    #: table's commits are in its own format.
    format_version: int = FORMAT_VERSION
    #: Logs waiting for the commit thread (:meth:`queue`), oldest first, with the
    #: bytes each holds.
    queued: collections.deque[tuple[LogJob, Future[ColumnGroup] | None, int]] = field(
        default_factory=collections.deque
    )
    #: Whether a task that drains ``queued`` is pending or running.
    _draining: bool = False
    _queue_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
        self._retrying(
            job.retry_for,
            lambda first: self.apply_once(job, rows_group if first else None),
            lambda before: self.landed(job, before),
            check,
        )

    def _retrying(
        self,
        retry_for: float,
        once: Callable[[bool], object],
        landed: Callable[[int], bool],
        check: Callable[[], None] | None,
    ) -> None:
        """``once(first attempt)`` until it passes, as :meth:`apply` describes;
        ``landed(version before)`` tells whether a failed attempt landed after all."""
        until = time.monotonic() + retry_for
        with store_deadline.deadline(until):
            self._until(until, (once, landed), check)

    def _until(
        self,
        until: float,
        attempts: tuple[Callable[[bool], object], Callable[[int], bool]],
        check: Callable[[], None] | None,
    ) -> None:
        once, landed = attempts
        delay, attempt = 0.5, 0
        while True:
            before = self.state.version
            try:
                if check is not None:
                    check()
                once(attempt == 0)
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
                if landed(before):
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
            if job.log_id in log_ids(manifest):
                self.state = load_version(self.ref, version, base=self.state)
                self.tail.track(self.state, job)
                moved = [fid for fid, _ in manifest.change.add_groups]
                if moved and moved != [fid for fid, _, _ in self.ranges]:  # rebased
                    self.ranges = _ranges_of(self.state.fragments, len(moved))
                added = manifest.change.add[-1] if manifest.change.add else None
                self._after_commit(
                    job,
                    added.rows if added else 0,
                    added.groups if added else (),
                    added.increment if added else None,
                )
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
        tagged = job.writes_rows and self._tags(job)
        if job.writes_rows and not tagged:
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
            format_version=self.format_version,
            log_time=job.time,
        )
        base: Intent | Callable[[TableState], Intent] = intent
        if tagged:  # format 2: the object stores the rows' increment, known per parent
            base = self._tagged(job, intent)
        plan: Intent | Callable[[TableState], Intent] = self._merging(job, base)
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
        own = self.state.fragments[-1] if tagged else None  # (the plan built its object)
        rows, groups = (
            (own.rows, own.groups) if own else (add[0].rows, add[0].groups) if add else (0, ())
        )
        added = {m for _fid, g in add_groups for m in g.media}
        added.update(m for g in groups for m in g.media)
        if added:  # a new set, not an update: the caller's thread reads the old one
            self.media_present = self.media_present | added
        self._after_commit(job, rows, groups, None if own is None else own.increment)
        return True

    def _tags(self, job: LogJob) -> bool:
        """Whether ``job``'s object stores its rows' ``_increment`` (docs/format.md,
        "Fragments"): every INCREMENTAL append to a format-2 table does."""
        fv = self.state.format_version if self.state.exists else self.format_version
        return fv == 2 and _groupable(job)

    def _tagged(self, job: LogJob, intent: Intent) -> Callable[[TableState], Intent]:
        """``intent`` adding ``job``'s rows in an object with their increment, which is
        the parent's ``increment_count``: built again if a lost race moves it."""
        built: dict[int, NewFragment] = {}
        rows = job.rows
        assert rows is not None

        def choose(current: TableState) -> Intent:
            count = current.increment_count or 0
            if count not in built:
                data = tagged_rows([(rows, count)], job.schema)
                group = upload_group(self.ref, data, job.blobs, present=self.media_present)
                built[count] = NewFragment(rows=data.num_rows, groups=(group,))
            return dataclasses.replace(intent, add=(built[count],))

        return choose

    # ------------------------------------------------------------ group commit

    def groups(self, job: LogJob) -> bool:
        """Whether ``job`` goes through the group queue (:meth:`queue`): an INCREMENTAL
        append to a format-2 table, or to a new table this writer makes format 2."""
        state = self.state  # (read on the caller's thread: a table never changes format)
        fv = state.format_version if state.exists else self.format_version
        return fv == 2 and _groupable(job)

    def queue(self, job: LogJob, rows_group: Future[ColumnGroup] | None, size: int) -> bool:
        """(Caller's thread) ``job`` (its rows' upload started as ``rows_group``,
        holding ``size`` bytes) waits for :meth:`take_queued`; True when no task is
        draining the queue, so the caller must submit one."""
        with self._queue_lock:
            self.queued.append((job, rows_group, size))
            if self._draining:
                return False
            self._draining = True
            return True

    def take_queued(self) -> list[tuple[LogJob, Future[ColumnGroup] | None, int]]:
        """(Commit thread) What to commit next: the oldest queued log with the logs
        queued behind it, at most GROUP_LOGS (docs/format.md, "Commits");
        empty when none is left, and then the next :meth:`queue` asks for a task."""
        with self._queue_lock:
            if not self.queued:
                self._draining = False
                return []
            batch = [self.queued.popleft()]
            while self.queued and len(batch) < GROUP_LOGS:
                batch.append(self.queued.popleft())
            return batch

    def apply_group(
        self,
        batch: list[tuple[LogJob, Future[ColumnGroup] | None]],
        *,
        check: Callable[[], None] | None = None,
    ) -> None:
        """Commit the logs :meth:`take_queued` gave, as :meth:`apply` commits one: all
        of them in one format-2 version (bounded by the first's ``retry_for``), or each
        on its own if the table turns out to be format 1 (another writer created it)."""
        if len(batch) == 1:
            job, rows_group = batch[0]
            self.apply(job, rows_group=rows_group, check=check)
            return
        jobs = [job for job, _ in batch]
        try:
            self._retrying(
                jobs[0].retry_for,
                lambda _first: self._group_once(jobs),
                lambda before: self._group_landed(jobs, before),
                check,
            )
        except _FormatOne:
            for job in jobs:
                self.apply(job, check=check)

    def _group_once(self, jobs: list[LogJob]) -> None:
        """One attempt at committing ``batch`` as one version: the logs' rows in one
        object with ``_increment`` (built for the parent's numbers, again if a lost
        race moves them), or, when their columns differ, in objects of their own."""
        self.state = commit(self.ref, self.state, self._group_plan(jobs))
        self._grouped(jobs)

    def push_group(self, jobs: list[LogJob], since: int) -> bool:
        """(``sync``) Commit spooled ``jobs``, INCREMENTAL appends that no version after
        ``since`` carried when the caller checked, as one version in one attempt. False,
        with nothing committed, when the table is format 1 or a version after ``since``
        carries one of them (another pusher committed it meanwhile): the caller then goes
        log by log, each checked by its log id (a group commits all its logs or none)."""
        ids = {job.log_id for job in jobs}
        plan = self._group_plan(jobs)
        seen = [since]

        def choose(current: TableState) -> GroupIntent:
            for version in range(seen[0] + 1, current.version + 1):
                manifest, _ = self.ref.read_manifest(version)
                if ids.intersection(log_ids(manifest)):
                    raise _Landed(version)
            seen[0] = max(seen[0], current.version)
            return plan(current)

        try:
            self.state = commit(self.ref, self.state, choose)
        except (_Landed, _FormatOne):
            return False
        self._grouped(jobs)
        return True

    def _group_plan(self, jobs: list[LogJob]) -> Callable[[TableState], GroupIntent]:
        rowful = [(i, job) for i, job in enumerate(jobs) if job.writes_rows]
        same = all(job.schema == rowful[0][1].schema for _, job in rowful) if rowful else False
        return self._combining(jobs, rowful) if rowful and same else self._own_objects(jobs)

    def _grouped(self, jobs: list[LogJob]) -> None:
        self.tail.clear()
        self.tail.spoiled = True  # (until the next checkpoint: fragments of a group)
        self._after_group(jobs)

    def _own_objects(self, jobs: list[LogJob]) -> Callable[[TableState], GroupIntent]:
        """Each log's rows in an object of its own, with their ``_increment`` (for logs
        whose columns differ), built per parent."""
        built: dict[int, GroupIntent] = {}

        def choose(current: TableState) -> GroupIntent:
            _check_format_2(current)
            count = current.increment_count or 0
            if count not in built:
                logs = []
                for n, job in enumerate(jobs, start=count):
                    add: tuple[NewFragment, ...] = ()
                    if job.writes_rows and job.rows is not None:
                        data = tagged_rows([(job.rows, n)], job.schema)
                        group = upload_group(self.ref, data, job.blobs, present=self.media_present)
                        add = (NewFragment(rows=data.num_rows, groups=(group,)),)
                    logs.append(_log_intent(job, add=add))
                built[count] = GroupIntent(mode="INCREMENTAL", writer=self.writer, logs=tuple(logs))
            return built[count]

        return choose

    def _combining(
        self, jobs: list[LogJob], rowful: list[tuple[int, LogJob]]
    ) -> Callable[[TableState], GroupIntent]:
        built: dict[int, NewFragment] = {}
        schema = rowful[0][1].schema

        def choose(current: TableState) -> GroupIntent:
            _check_format_2(current)
            count = current.increment_count or 0
            if count not in built:
                parts = [(job.rows, count + i) for i, job in rowful if job.rows is not None]
                rows = tagged_rows(parts, schema)
                blobs = _blobs_for(jobs, rows)
                group = upload_group(self.ref, rows, blobs, present=self.media_present)
                built[count] = NewFragment(
                    rows=rows.num_rows,
                    groups=(group,),
                    increment=parts[0][1],
                    last_increment=parts[-1][1],
                )
            logs = tuple(
                _log_intent(job, combined=job.rows.num_rows if job.writes_rows and job.rows else 0)
                for job in jobs
            )
            return GroupIntent(
                mode="INCREMENTAL", writer=self.writer, logs=logs, combined=(built[count],)
            )

        return choose

    def _after_group(self, jobs: list[LogJob]) -> None:
        """After a group commit of ``jobs``: their media are in the store, and each
        job's rows are handed back (``on_landed``) with the group that holds them."""
        state = self.state
        count = state.increment_count or 0
        first = count - len(jobs)
        mine: list[Fragment] = []  # (from the end: O(this commit), not O(table))
        for f in reversed(state.fragments):
            if f.increment < first:
                break
            mine.insert(0, f)
        media = {m for f in mine for g in f.groups for m in g.media}
        if media - self.media_present:  # a new set: the caller's thread reads the old one
            self.media_present = self.media_present | media
        if self.on_landed is None:
            return
        for n, job in enumerate(jobs, start=first):
            if not job.writes_rows or job.rows is None:
                continue
            holder = next((f for f in mine if f.increment <= n <= _last(f)), None)
            group = holder.groups[0] if holder is not None and len(holder.groups) == 1 else None
            if group is not None and INCREMENT_COLUMN in group.columns:  # (every group's)
                self.on_landed(job, group, n)

    def _group_landed(self, jobs: list[LogJob], before: int) -> bool:
        """Whether a version after ``before`` carries ``jobs`` (a group commits all of
        them or none: its first log's id tells); then adopt it."""
        latest = latest_version(self.ref, hint=before)
        for version in range(before + 1, latest + 1):
            manifest, _ = self.ref.read_manifest(version)
            if jobs[0].log_id in log_ids(manifest):
                self.state = load_version(self.ref, version, base=self.state)
                self.tail.clear()
                self.tail.spoiled = True
                self._after_group(jobs)
                return True
        return False

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

    def _merging(
        self, job: LogJob, base: Intent | Callable[[TableState], Intent]
    ) -> Intent | Callable[[TableState], Intent]:
        """``base`` (an intent, or one per parent), merging this writer's tail first
        when the next version is a checkpoint (module ``merge``); after a rebase only if
        it still applies to the new parent. The merged object is uploaded once a plan
        takes it."""
        if not self.tail.due(self.state, job):
            return base
        rows = self.tail.merged(self.state, job)
        if rows is None:
            return base
        planned = self.state.version
        uploaded: list[ColumnGroup] = []

        def choose(current: TableState) -> Intent:
            intent = base(current) if callable(base) else base
            if current.version != planned and not self.tail.due(current, job):
                return intent
            if not uploaded:
                uploaded.append(upload_group(self.ref, rows))
            first = self.tail.fragments[0].increment
            last = self.tail.fragments[-1].last_increment  # (format 2; None in format 1)
            merged = NewFragment(
                rows=rows.num_rows, groups=(uploaded[0],), increment=first, last_increment=last
            )
            return dataclasses.replace(intent, remove=self.tail.ids, add=(merged, *intent.add))

        return choose

    def _after_commit(
        self,
        job: LogJob,
        added_rows: int,
        groups: tuple[ColumnGroup, ...],
        increment: int | None = None,
    ) -> None:
        rows = job.rows
        names = () if rows is None else tuple(rows.column_names)
        whole = (
            rows is not None
            and len(groups) == 1
            and added_rows == rows.num_rows
            and groups[0].columns in (names, (*names, INCREMENT_COLUMN))
        )
        if self.on_landed is not None and whole:  # one object holds exactly the rows
            tagged = groups[0].columns != names
            self.on_landed(job, groups[0], increment if tagged else None)
        if job.replace:
            self.ranges = []
        if job.mode == "MUTABLE" and job.writes_rows:
            fid = self.state.fragments[-1].id
            self.ranges.append((fid, job.first_row, job.first_row + added_rows))


def _blobs_for(jobs: list[LogJob], rows: pa.Table) -> dict[str, bytes]:
    """The media blobs ``rows`` (several logs' rows) refer to, from the logs' maps,
    which are looked up, never iterated (a Table's map may grow on the caller's thread
    meanwhile: ``LogJob.blobs``)."""
    maps = [m for m in {id(job.blobs): job.blobs for job in jobs}.values() if m]
    out: dict[str, bytes] = {}
    for name in media_blob_names(rows) if maps else ():
        found = next((b for m in maps if (b := m.get(name)) is not None), None)
        if found is not None:
            out[name] = found
    return out


def _groupable(job: LogJob) -> bool:
    """Whether ``job`` may share a commit with other logs: an INCREMENTAL append."""
    return (
        job.mode == "INCREMENTAL"
        and not job.separate
        and not job.replace
        and job.new_columns is None
    )


def _log_intent(job: LogJob, *, add: tuple[NewFragment, ...] = (), combined: int = 0) -> LogIntent:
    return LogIntent(
        log_id=job.log_id,
        step=job.step,
        time=job.time,
        schema=job.schema,
        add=add,
        combined_rows=combined,
    )


def _last(f: Fragment) -> int:
    return f.increment if f.last_increment is None else f.last_increment


class _FormatOne(Exception):
    """The table is format 1 (another writer created it): one version per log."""


def _check_format_2(current: TableState) -> None:
    if current.exists and current.format_version != 2:
        raise _FormatOne(current.format_version)


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
            if log_id in log_ids(manifest):
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
