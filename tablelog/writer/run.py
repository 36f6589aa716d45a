"""``Run``: logs tables and scalars (background commits, released rows, shards)."""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import fnmatch
import functools
import logging
import math
import os
import secrets
import socket
import time
import types
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

import pyarrow as pa

from tablelog.data.compaction import compact_table
from tablelog.data.groups import read_group, upload_group
from tablelog.errors import (
    CommitStateUnknownError,
    NewerFormatError,
    RunError,
    StoreError,
    TablelogError,
    UnsafeStoreError,
)
from tablelog.format import paths
from tablelog.format.arrow_types import merged_type, type_to_json
from tablelog.format.chain import TableRef, find_shards, write_format
from tablelog.format.handle import open_table
from tablelog.format.manifest import ColumnGroup
from tablelog.format.media_cells import MEDIA_TYPE
from tablelog.format.runinfo import RunInfo, encode_run_info, read_run_info
from tablelog.format.values import check_text, surrogate_at, to_json_text
from tablelog.media.kinds import is_media
from tablelog.objects import deadline as store_deadline
from tablelog.objects.store import Store
from tablelog.table.plain_rows import INT64_MAX, INT64_MIN, PLAIN_TYPES, PlainRows, plain_arrays
from tablelog.table.table import (
    Table,
    append_arrow,
    deferred_table,
    release_rows,
    table_blobs,
    table_uid,
)
from tablelog.table.types import kind_of
from tablelog.writer.committer import KeyCommitter
from tablelog.writer.config import PERSIST_EVERY, Config, Summary, plain
from tablelog.writer.keylog import KeyLog, LogJob
from tablelog.writer.merge import Budget, Tail
from tablelog.writer.spool import Spool, push, spool_root
from tablelog.writer.worker import Worker

log = logging.getLogger("tablelog")

HISTORY_KEY = "_history"
#: Latest-version hints (docs/format.md): the commit thread rewrites a table's hint
#: when its queue goes idle, at most this often (seconds), so that a writer logging a
#: little slower than it commits adds at most one PUT per table per second ...
HINT_EVERY_S = 1.0
#: ... and while the queue stays busy, this often; finish() writes the last ones.
HINT_BUSY_EVERY_S = 10.0
#: At most this long (seconds) for one hint PUT: it must not hold up the commits.
HINT_TIMEOUT_S = 5.0


class Run:
    """A run: logs tables and scalars under ``project/run_id`` in one store.

    Create it with :func:`tablelog.init`. Use it as a context manager, or call
    :meth:`finish`.
    """

    def __init__(
        self,
        *,
        store: Store,
        info: RunInfo,
        resumed: bool,
        single_writer: bool = False,
        sync: bool = False,
        queue_size: int = 1000,
        queue_bytes: int = 64 << 20,
        retry_for: float = 10.0,
        compact_at: int | None = None,
        keep_logged_rows: bool = False,
        shard: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        allow_val_change: bool = False,
        offline: bool = False,
    ) -> None:
        self._store = store
        #: mode="offline": nothing reaches the store; every log goes to the spool.
        self._offline = offline
        self.shard = shard
        self._keep_logged_rows = keep_logged_rows
        #: INCREMENTAL Tables this handle logged, and their rows committed since (from
        #: the worker) that the Table can release from memory on its own thread.
        self._tables: weakref.WeakValueDictionary[str, Table] = weakref.WeakValueDictionary()
        #: (Table uid, first row, rows, generation, group, increments it holds them as)
        self._landed: collections.deque[
            tuple[str, int, int, int, ColumnGroup, tuple[int, int] | None]
        ] = collections.deque()
        self._compact_at = compact_at
        self._storage_options = storage_options
        self._info = info
        self.resumed = resumed
        self._single_writer = single_writer
        self._writer_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._keys: dict[str, tuple[KeyLog, KeyCommitter]] = {}
        #: Rows all keys' committers keep for merging (run/merge.py).
        self._merge_budget = Budget()
        # Read once: a bad $TABLELOG_WRITE_FORMAT is refused by init, not by a log.
        self._write_format = write_format()
        self._worker = Worker(maxsize=queue_size, max_bytes=queue_bytes, sync=sync)
        self._worker.on_idle = self._on_idle
        self._worker.after_task = self._after_task
        self._worker.on_failure = self._report_failure
        #: Background failures already raised by flush().
        self._raised_failures = 0
        self._spool: Spool | None = None
        self._spool_folder = (
            spool_root()
            / paths.encode(info.project)
            / paths.encode(info.run_id)
            / paths.encode(self._writer_id)
        )
        self._next_drain = 0.0
        self._drain_backoff = 1.0
        #: Table key -> the version this handle last wrote into its latest-version
        #: hint, and when the last round of hint writes ran (monotonic).
        self._hinted: dict[str, int] = {}
        self._hints_at = 0.0
        self._retry_for = retry_for
        # A script that never calls finish() still gets its queued logs committed.
        atexit.register(_finish_at_exit, weakref.ref(self))
        self._summary_none: set[str] = set()
        # Ranks of a sharded run step on their own: only this handle's steps must grow.
        self._last_step: int | None = info.last_step if shard is None else None
        self._finished = False
        self._checked_store = False
        # W&B's run fields (#17): kept in run.json, rewritten at most every
        # PERSIST_EVERY seconds while logging, and at finish.
        self._info_dirty = False
        self._info_written = time.monotonic()
        self._config = Config(
            info.config, on_change=self._mark_dirty, allow_val_change=allow_val_change
        )
        self.summary = Summary(info.summary, on_change=self._mark_dirty)
        #: The history row that ``log(..., commit=False)`` is accumulating, and its step:
        #: 1-row arrays, or plain values (int64 ints, floats, text, bools) converted by
        #: the commit thread (:meth:`_log_history`).
        self._partial: dict[str, pa.Array | Plain] = {}
        #: The converter of each history row's (column, type)s seen (_log_history).
        self._history_rows: dict[tuple[tuple[str, type], ...], PlainRows] = {}
        self._partial_values: dict[str, Any] = {}
        self._partial_step: int | None = None
        self._history_blobs: dict[str, bytes] = {}
        #: Arrow type (manifest JSON) of each ``_history`` column so far, so that a value
        #: that would change it is refused by ``log`` (the commit would fail later).
        self._history_types: dict[str, Any] | None = None
        #: Called when the run finishes (tablelog.init: forget the current run).
        self._on_finish: Any = None
        #: Set when a store call failed (and cleared when one succeeds): run.log then
        #: makes no store call of its own, so it never waits for a store that is down.
        self._store_down = False

    # --------------------------------------------------------------- properties

    @property
    def id(self) -> str:
        return self._info.run_id

    @property
    def project(self) -> str:
        return self._info.project

    @property
    def name(self) -> str | None:
        return self._info.name

    @property
    def config(self) -> Config:
        """W&B's ``run.config``: attribute and item access, ``update()``; kept in run.json."""
        return self._config

    @property
    def tags(self) -> tuple[str, ...]:
        return self._info.tags

    @property
    def notes(self) -> str | None:
        return self._info.notes

    @property
    def group(self) -> str | None:
        return self._info.group

    @property
    def job_type(self) -> str | None:
        return self._info.job_type

    @property
    def offline(self) -> bool:
        return self._offline

    @property
    def disabled(self) -> bool:
        return False

    @property
    def root(self) -> str:
        return self._store.url

    @property
    def path(self) -> str:
        return f"{self.project}/{self.id}"

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` uses."""
        if self._partial_step is not None:
            return self._partial_step
        return 0 if self._last_step is None else self._last_step + 1

    def __repr__(self) -> str:
        return f"Run({self.path!r}, root={self.root!r})"

    # ------------------------------------------------------------------ logging

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> None:
        """Declare how a key (or a glob such as ``"val/*"``) is summarised in
        ``run.summary``: ``summary="min"``, ``"max"``, ``"mean"``, ``"first"``,
        ``"last"``, ``"best"`` (with ``goal``), comma-separated, or ``"none"``.
        ``summary="none"`` on an INCREMENTAL key (or ``"*"``) also logs each increment
        as a new, separate table version. ``step_metric``, ``step_sync``, ``hidden``
        and ``overwrite`` only steer W&B's charts and are accepted and ignored."""
        del step_metric, step_sync, hidden, overwrite
        if not isinstance(name, str) or not name:
            raise RunError(f"define_metric needs a key name or '*', got {name!r}")
        if summary is not None and not isinstance(summary, str):
            raise RunError(f"define_metric summary must be a string, got {summary!r}")
        self.summary.define(name, summary, goal)
        if summary is not None and summary.lower() == "none":
            self._summary_none.add(name)
        else:
            self._summary_none.discard(name)

    def _separate(self, key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, pat) for pat in self._summary_none)

    def log(
        self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None
    ) -> None:
        """Log tables and scalars at ``step`` (steps only move forward).

        Tables (and pandas/Polars DataFrames, logged as IMMUTABLE tables) go to their
        key; every other value goes to the run's history table
        (``scan("project/run/_history")``), one row per step. Media values (and lists
        of them) are stored as media cells of that row. ``commit=False`` adds the
        values to the current step's row without writing it; the next log with
        ``commit`` unset or true (or a larger ``step``, or ``finish``) writes it.
        """
        if self._finished:
            raise RunError(f"run {self.path} is finished; start or resume a run to log more")
        if not isinstance(data, Mapping):
            raise RunError(f"run.log takes a dict of key -> value, got {type(data).__name__}")
        if commit is not None and not isinstance(commit, bool):
            raise RunError(f"commit must be True, False or None, got {commit!r}")
        step = _checked_step(step)
        tables: dict[str, Table] = {}
        scalars: dict[str, pa.Array | Plain] = {}
        values: dict[str, Any] = {}
        blobs: dict[str, bytes] = {}
        plain_values: dict[str, Any] = {}  # (the usual scalars: converted together)
        for key, value in data.items():
            paths.check_key(key)
            if isinstance(value, Table):
                if self.shard is not None and paths.SHARD_COLUMN in value.columns:
                    raise RunError(
                        f"cannot log {key!r}: column {paths.SHARD_COLUMN!r} is reserved in a "
                        "sharded run (readers name each row's shard in it); rename the column"
                    )
                tables[key] = value
            elif _is_dataframe(value):
                tables[key] = Table(dataframe=value)
            elif type(value) in PLAIN_TYPES:
                plain_values[key] = value
                values[key] = value if type(value) is not float or math.isfinite(value) else None
            else:
                scalars[key], values[key] = _history_cell(key, value, blobs)
        if plain_values:
            scalars = _with_plain_cells(data, scalars, plain_values)
        # run.log's own store calls (the probe, a new key's first read) are single
        # requests, skipped while the store is known to be down.
        with store_deadline.deadline(time.monotonic() + self._retry_for):
            self._check_store()
            if scalars:
                self._check_history_types(scalars)
            # Steps grow along every chain: a chain already ahead (a shard's restarted
            # rank, another handle of the run) moves this handle's steps on.
            self._step_floor([*tables, *([HISTORY_KEY] if scalars else [])])
        if step is not None and self._partial_step is not None and step > self._partial_step:
            self._commit_partial()  # W&B: a larger step writes the step being built
        step = self._next_step(step)
        self._release_landed()
        # Every table's job is prepared (and may be refused) before any is handed over,
        # so a refused log changes nothing.
        jobs: list[tuple[KeyLog, KeyCommitter, LogJob | None, Table]] = []
        for key, table in tables.items():
            keylog, committer = self._writer(key)
            job = keylog.prepare(table, step=step, separate=self._separate(key))
            jobs.append((keylog, committer, job, table))
        for keylog, committer, job, table in jobs:
            keylog.confirm()
            if job is not None:
                if job.source is not None and not self._keep_logged_rows:
                    self._tables[table_uid(table)] = table  # its rows are released once committed
                self._submit(committer, job)
        for key, table in tables.items():
            values[key] = {"_type": "table", "rows": table.num_rows}
        if scalars or self._partial:
            self._partial.update(scalars)
            self._history_blobs.update(blobs)
            self._partial_step = step
        if values:
            self.summary.note_logged(values)
        if commit is False:
            self._partial_step = step
            if tables:
                self._last_step = step
        else:
            self._commit_partial()
            self._last_step = step
        self._persist_soon()

    def _check_history_types(self, cells: Mapping[str, pa.Array | Plain]) -> None:
        """Refuse a value whose type the ``_history`` column cannot take (a number key
        logged as text, say), before anything is queued; then remember the new types."""
        types = self._history_types
        if types is None:
            types = {}
            if self.resumed or self.shard is not None:  # the stored history's columns
                _, committer = self._writer(HISTORY_KEY)
                types = {c.name: c.arrow for c in committer.state.schema}
            self._history_types = types
        new: dict[str, Any] = {}
        for key, arr in cells.items():
            t = type_to_json(arr.type) if isinstance(arr, pa.Array) else _PLAIN_JSON[type(arr)]
            have = types.get(key)
            merged = t if have is None else merged_type(have, t)
            if merged is not None:
                new[key] = merged
            else:
                raise RunError(
                    f"cannot log {key!r}: earlier logs of this run stored it as "
                    f"{_type_name(have)}, this value is {_type_name(t)}; a history key keeps "
                    "one type (numbers stay numbers, media stay media): log this value under "
                    "another key"
                )
        types.update(new)

    def _commit_partial(self) -> None:
        """Write the history row built so far (if any) at its step."""
        if self._partial_step is None:
            return
        step, row, blobs = self._partial_step, self._partial, self._history_blobs
        self._partial, self._history_blobs, self._partial_step = {}, {}, None
        if row:
            self._log_history(step, row, blobs)
        self._last_step = step if self._last_step is None else max(self._last_step, step)

    def _step_floor(self, keys: list[str]) -> None:
        """Steps grow along each chain (a shard's along its own): a restarted rank, or a
        handle whose chains another handle moved on, continues from the newest step
        the chains of these keys hold (read once per key, when it is first logged)."""
        for key in keys:
            if key not in self._keys:
                _, committer = self._writer(key)
                newest = committer.state.step
                if newest is not None and (self._last_step is None or newest > self._last_step):
                    self._last_step = newest

    def _next_step(self, step: int | None) -> int:
        """The step of this log (``step`` as :func:`_checked_step` returned it)."""
        if step is None:
            step = self.step
            if step > _MAX_STEP:
                raise RunError(
                    f"the next step of run {self.path} would be {step}; steps are at most 2**63 - 1"
                )
            return step
        if self._partial_step is not None and step < self._partial_step:
            raise RunError(
                f"steps only move forward: step {step} is before step {self._partial_step}, "
                f"which run {self.path} is still building (log(..., commit=False))"
            )
        if self._last_step is not None and step < self._last_step:
            raise RunError(
                f"steps only move forward: step {step} is before the last logged step "
                f"{self._last_step} of run {self.path}"
            )
        return step

    def _check_store(self) -> None:
        """The create-if-absent probe, once, in ``log()``; while the store does not
        answer, the committing thread runs it before the first commit instead (a log is
        spooled, never refused, because the store is down)."""
        if self._checked_store or self._offline or self._store_down:
            return
        try:
            self._probe()
        except UnsafeStoreError:
            raise
        except StoreError as e:
            self._went_down(e)

    def _probe(self) -> None:
        if self._checked_store:
            return
        if not self._single_writer:
            self._store.check_conditional_create()
        self._checked_store = True

    def _went_down(self, error: BaseException) -> None:
        if not self._store_down:
            log.warning("tablelog: %s does not answer (%s)", self._store.url, error)
        self._store_down = True

    def _writer(self, key: str) -> tuple[KeyLog, KeyCommitter]:
        found = self._keys.get(key)
        if found is None:
            table_key = key if self.shard is None else paths.shard_key(self.shard, key)
            ref = TableRef(self._store, self.project, self.id, table_key)
            committer = KeyCommitter(
                ref=ref,
                writer=self._writer_id,
                tail=Tail(budget=self._merge_budget),
                format_version=self._write_format,
            )
            if not self._keep_logged_rows:
                committer.on_landed = self._on_landed
            # One read per key and handle, so a resumed INCREMENTAL key continues and a
            # log_mode clash is reported by log() itself.
            try:
                if self._offline:  # a new run: nothing to read, and no store to ask
                    raise StoreError("mode='offline'")
                if self._store_down:
                    raise StoreError(f"{self._store.url} does not answer")
                state = committer.open()
                if state.version < 0:
                    self._check_sharding(key)
            except (StoreError, CommitStateUnknownError) as e:
                if isinstance(e, UnsafeStoreError):
                    raise
                # Unreachable now: the commit (or the spool) finds the table later.
                self._went_down(e)
                state = committer.state
            keylog = KeyLog(
                key=key,
                path=ref.path,
                mode=state.mode,
                retry_for=self._retry_for,
                schema=state.schema if state.version >= 0 else (),
            )
            found = (keylog, committer)
            self._keys[key] = found
        return found

    def _check_sharding(self, key: str) -> None:
        """A table is sharded or not, never both: the first log of a new table checks
        that no writer started it the other way (readers would miss one of them)."""
        path = f"{self.project}/{self.id}/{key}"
        if self.shard is not None:
            if TableRef(self._store, self.project, self.id, key).has_version(0):
                raise RunError(
                    f"table {path} was logged without a shard; this run has shard "
                    f"{self.shard!r}. Log sharded tables under a new key (or init(shard=False))"
                )
        elif find_shards(self._store, self.project, self.id, key):
            raise RunError(
                f"table {path} is sharded (logged by runs with shard ids); this run has "
                "none. Give it a shard id (init(shard=...)) or log under a new key"
            )

    def _on_landed(self, job: LogJob, group: ColumnGroup, increment: int | None) -> None:
        """(Worker thread) ``job``'s rows are committed in ``group`` (as its rows of
        ``increment`` if it holds other logs' too): queue them for their Table, which
        releases them on its own thread (``_release_landed``)."""
        if job.source is not None and job.given is not None:
            uid, generation = job.source
            part = None if increment is None else (increment, increment)
            self._landed.append((uid, job.first_row, job.row_count, generation, group, part))

    def _release_landed(self) -> None:
        """Hand committed rows to their Tables (on the caller's thread, as Tables are
        not thread-safe): each drops the batches they cover and reads them back later."""
        while self._landed:
            uid, first, n, gen, group, part = self._landed.popleft()
            while part is not None and self._landed:  # the next logs of one object
                nuid, nfirst, nn, ngen, ngroup, npart = self._landed[0]
                if (nuid, ngen, ngroup) != (uid, gen, group) or nfirst != first + n:
                    break
                if npart is None or npart[0] != part[1] + 1:
                    break
                self._landed.popleft()
                n, part = n + nn, (part[0], npart[1])
            table = self._tables.get(uid)
            if table is not None:
                loader = functools.partial(read_group, self._store, group, increments=part)
                release_rows(table, first, n, loader, gen)

    def _submit(self, committer: KeyCommitter, job: LogJob) -> None:
        rows_group = None
        offline = (
            self._offline
            or self._store_down
            or (self._spool is not None and self._spool.pending > 0)
        )
        grouped = committer.groups(job)
        # A group commit uploads its logs' rows as one object (format 2): no log's own
        # upload is started ahead of it.
        if job.writes_rows and self._store.parallel_uploads and not offline and not grouped:
            upload = functools.partial(upload_group, present=committer.media_present)
            with store_deadline.deadline(time.monotonic() + self._retry_for):
                bounded = store_deadline.carried(upload)  # it ends by then, or fails
            rows_group = self._worker.prefetch(_upload_job, bounded, committer.ref, job)
        size = job.nbytes
        label = f"{job.key!r} at step {job.step}"
        if not grouped:
            self._worker.submit(lambda: self._commit(committer, [(job, rows_group)]), size, label)
            return
        # Format 2 (group commit): the key's logs queue on its committer, and one task
        # at a time commits whatever has queued (docs/format.md, "Commits").
        self._worker.reserve(size)
        if committer.queue(job, rows_group, size):
            self._worker.submit(lambda: self._commit_queued(committer), 0, label)

    def _commit_queued(self, committer: KeyCommitter) -> None:
        """(Worker) Commit the key's queued logs, a group at a time, until none is left;
        a group that fails is reported and the next one still runs."""
        while True:
            batch = committer.take_queued()
            if not batch:
                return
            try:
                self._commit(committer, [(job, rows_group) for job, rows_group, _ in batch])
            except Exception as e:  # (as a failed task: reported, later logs still run)
                first, last = batch[0][0], batch[-1][0]
                self._worker.report(f"{first.key!r} at steps {first.step}..{last.step}", e)
            finally:
                self._worker.release(sum(size for _, _, size in batch))

    # ------------------------------------------------------------ offline spool

    def _commit(
        self, committer: KeyCommitter, batch: list[tuple[LogJob, Future[ColumnGroup] | None]]
    ) -> None:
        """Commit ``batch`` (one log, or a group of a format-2 key) on the worker, or
        spool it while the store is unreachable."""
        if self._offline:
            for job, _ in batch:
                self._spool_job(committer, job)
            return
        if self._spool is not None and self._spool.pending:
            for job, rows_group in batch:
                if rows_group is not None:
                    rows_group.cancel()
                self._spool_job(committer, job)  # keep log order behind what is spooled
            self._drain(force=False)
            return
        try:
            # (the probe, if log() could not run it because the store was down)
            committer.apply_group(batch, check=self._probe)
            self._store_down = False
        except (StoreError, CommitStateUnknownError) as e:
            if isinstance(e, UnsafeStoreError):  # unsafe, not unreachable: never spool
                raise
            self._store_down = True
            for job, rows_group in batch:
                if rows_group is not None:
                    rows_group.cancel()
                # (a log of the batch committed before it failed is found by its log
                # id when the spool is pushed, never committed twice)
                self._spool_job(committer, job)
            # The next try waits a little: the spool's first entry just failed.
            self._drain_backoff = 2.0
            self._next_drain = time.monotonic() + self._drain_backoff
            log.warning(
                "tablelog: %s is unreachable (%s); logs of run %s are spooled to %s and "
                "will be committed when it answers (or with `tablelog sync`)",
                self._store.url,
                e,
                self.path,
                self._spool_folder,
            )

    def _spool_job(self, committer: KeyCommitter, job: LogJob) -> None:
        if self._spool is None:
            self._spool = Spool(self._spool_folder)
        self._spool.add(
            job,
            root=self._store.url,
            project=self.project,
            run_id=self.id,
            base=committer.state.version,
            ranges=committer.ranges,
            table_key=committer.ref.key,
        )

    def _drain(self, *, force: bool) -> None:
        spool = self._spool
        if spool is None or not spool.pending or self._offline:
            return
        now = time.monotonic()
        if not force and now < self._next_drain:
            return
        try:
            # Each spooled log is bounded like one commit: retry_for plus one request
            # (the drain stops at the first that fails).
            with store_deadline.deadline(time.monotonic() + self._retry_for):
                self._probe()
            done, _ = push(
                spool,
                lambda entry: self._keys[entry.job.key][1],
                wait=False,
                each_s=self._retry_for,
            )
        except UnsafeStoreError:
            raise
        except (StoreError, CommitStateUnknownError):
            # Still unreachable: try again later, less and less often (each try costs
            # the client's own retries).
            self._drain_backoff = min(self._drain_backoff * 2, 60.0)
            self._next_drain = time.monotonic() + self._drain_backoff
            return
        self._drain_backoff = 1.0
        if not spool.pending:
            self._store_down = False
        if done and not spool.pending:
            log.warning("tablelog: %s answers again; the spooled logs are committed", self.root)

    # ------------------------------------------------- latest-version hints

    def _on_idle(self) -> None:
        """(Worker thread, idle for ``idle_every`` seconds.)"""
        self._drain(force=False)
        if self._store.remote:
            self._write_hints(force=True)

    def _after_task(self, drained: bool) -> None:
        """(Worker thread, after each commit.) On network stores, each table's hint
        follows its commits: when the queue has gone idle, at most every
        HINT_EVERY_S; while it stays busy, every HINT_BUSY_EVERY_S."""
        if not self._store.remote:
            return
        since = time.monotonic() - self._hints_at
        if since >= (HINT_EVERY_S if drained else HINT_BUSY_EVERY_S):
            self._write_hints(force=True)

    def _write_hints(self, *, force: bool) -> None:
        """Overwrite the latest-version hint of each table this handle committed to
        since it last wrote it (docs/format.md, "Latest-version hint"): one PUT per
        such table, each bounded by one request timeout; the first that fails ends
        the round. ``force=False`` writes only after HINT_EVERY_S. Runs on the worker
        thread, or in finish() once the worker has stopped."""
        if self._offline or self._store_down or (self._spool is not None and self._spool.pending):
            return
        now = time.monotonic()
        if not force and now - self._hints_at < HINT_EVERY_S:
            return
        self._hints_at = now
        for _keylog, committer in list(self._keys.values()):
            ref, version = committer.ref, committer.state.version
            if version < 0 or self._hinted.get(ref.key) == version:
                continue
            with store_deadline.deadline(time.monotonic() + min(self._retry_for, HINT_TIMEOUT_S)):
                if not ref.write_hint(version):
                    return
            self._hinted[ref.key] = version

    def _report_failure(self, label: str, error: BaseException) -> None:
        """(Worker thread) one log could not be committed: say so at once; the other
        keys and later logs are committed as usual (flush() and finish() raise)."""
        log.error(
            "tablelog: the log of %s in run %s could not be committed: %s (later logs "
            "and other keys are still committed; finish() reports it)",
            label,
            self.path,
            error,
        )

    def _raise_worker_error(self, *, all_failures: bool = False) -> None:
        failures = self._worker.failures
        new = failures if all_failures else failures[self._raised_failures :]
        if not new:
            return
        self._raised_failures = len(failures)
        label, error = new[0]
        more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
        raise RunError(
            f"a background commit of run {self.path} failed ({len(new)} log(s) not "
            f"committed; every other log was): the log of {label}: {error}{more}"
        ) from error

    def flush(self) -> None:
        """Wait until everything logged so far is committed; raise for logs that could
        not be committed since the last flush (the others are committed)."""
        self._worker.flush()
        self._release_landed()
        self._raise_worker_error()

    def _log_history(
        self, step: int, cells: dict[str, pa.Array | Plain], blobs: dict[str, bytes]
    ) -> None:
        values = {"_step": step, "_time": time.time(), **cells}
        table = self._plain_history(values)
        if table is None:
            plain = {k: v for k, v in values.items() if not isinstance(v, pa.Array)}
            converted = plain_arrays(plain)  # (run.log checked them: NaN becomes null)
            assert converted is not None
            row = {k: converted.get(k, v) for k, v in values.items()}
            table = Table(columns=list(row), log_mode="INCREMENTAL")
            append_arrow(table, pa.table(row))
        table_blobs(table).update(blobs)
        keylog, committer = self._writer(HISTORY_KEY)
        job = keylog.prepare(table, step=step, separate=False)
        keylog.confirm()
        if job is not None:
            self._submit(committer, job)

    def _plain_history(self, values: dict[str, Any]) -> Table | None:
        """The history row as a Table of plain values the commit thread converts (no
        Arrow call here), or None if a value is not such (an array, NaN)."""
        if not all(type(v) in PLAIN_TYPES for v in values.values()):
            return None
        shape = tuple((k, type(v)) for k, v in values.items())
        plain = self._history_rows.get(shape)
        if plain is None:
            if len(self._history_rows) >= _HISTORY_SHAPES:
                self._history_rows.clear()
            fields = [(k, PLAIN_TYPES[t]) for k, t in shape]
            plain = self._history_rows[shape] = PlainRows(pa.schema(fields))
        rows = plain.defer([tuple(values.values())])
        return None if rows is None else deferred_table(rows)

    # ------------------------------------------------------------------ finish

    def finish(self, exit_code: int | None = None) -> None:
        """Mark the run finished (or failed, for a non-zero ``exit_code``)."""
        if self._finished:
            return
        try:
            self._finish(exit_code)
        finally:
            self._store.close()  # (init(store_process=True): its child process)

    def _finish(self, exit_code: int | None) -> None:
        try:
            self._commit_partial()
        finally:
            self._finished = True
            if self._on_finish is not None:
                self._on_finish(self)
        self._worker.close()
        self._drain(force=True)
        for _keylog, committer in self._keys.values():
            committer.tail.clear()  # nothing more to merge
        if self._offline:
            self._finish_offline(exit_code)
            return
        if self._spool is not None and self._spool.pending:
            # run.json cannot be written either: `tablelog sync` writes it after the logs.
            failed = exit_code or self._worker.error is not None
            self._spool.finish(
                {
                    "root": self._store.url,
                    "project": self.project,
                    "run_id": self.id,
                    "status": "failed" if failed else "finished",
                    "last_step": self._last_step,
                }
            )
            log.warning(
                "tablelog: %d log(s) of run %s could not reach %s and wait in %s: run "
                "`tablelog sync %s` when the store is reachable",
                self._spool.pending,
                self.path,
                self.root,
                self._spool_folder,
                self._spool_folder,
            )
            return  # run.json cannot be written either; sync finishes the job
        self._release_landed()
        self._write_hints(force=True)  # (a compaction below writes its own)
        error = self._worker.error
        if error is None and self._compact_at is not None:
            self._compact_tables(self._compact_at)
        status = "failed" if exit_code or error is not None else "finished"
        with store_deadline.deadline(time.monotonic() + self._retry_for):
            store_deadline.retrying(lambda: self._write_info(status))
        self._raise_worker_error(all_failures=True)

    def _finish_offline(self, exit_code: int | None) -> None:
        """mode="offline": run.json goes to the spool too; ``tablelog sync`` writes it."""
        status = "failed" if exit_code or self._worker.error is not None else "finished"
        self._info = dataclasses.replace(
            self._snapshot_info(), status=status, updated=time.time(), last_step=self._last_step
        )
        if self._spool is None:
            self._spool = Spool(self._spool_folder)
        self._spool.add_run_info(encode_run_info(self._info), root=self._store.url)
        log.warning(
            "tablelog: run %s is offline: its logs wait in %s; run `tablelog sync %s` to "
            "commit them to %s",
            self.path,
            self._spool_folder,
            self._spool_folder,
            self.root,
        )
        self._raise_worker_error()

    def _compact_tables(self, at: int) -> None:
        """``compact_at``: compact each table this run logged that has >= ``at`` fragments."""
        for keylog, committer in self._keys.values():
            if len(committer.state.fragments) < at:
                continue
            try:
                table = open_table(
                    committer.ref.path, root=self._store.url, storage_options=self._storage_options
                )
                done = compact_table(table, min_fragments=at)
            except Exception as e:  # the logged versions stand; a later compact may do it
                log.warning("tablelog: compacting %s at finish failed: %s", keylog.path, e)
                continue
            if done.compacted:
                log.info(
                    "tablelog: compacted %s: %d fragments -> %d (version %s)",
                    keylog.path,
                    done.fragments_before,
                    done.fragments_after,
                    done.version,
                )

    def _write_info(self, status: str) -> None:
        last_step = self._last_step
        if self.shard is not None:  # every rank writes run.json: keep the others' news
            try:
                other = read_run_info(self._store, paths.run_json_key(self.project, self.id))
            except NewerFormatError:
                raise  # a newer tablelog's run.json is never overwritten
            except TablelogError:  # damaged: this rank's run.json replaces it
                other = None
            if other is not None:
                steps = [s for s in (last_step, other.last_step) if s is not None]
                last_step = max(steps) if steps else None
                if other.status == "failed":
                    status = "failed"
        self._info = dataclasses.replace(
            self._snapshot_info(), status=status, updated=time.time(), last_step=last_step
        )
        self._store.put(paths.run_json_key(self.project, self.id), encode_run_info(self._info))

    # ------------------------------------------------- config and summary (run.json)

    def _mark_dirty(self) -> None:
        self._info_dirty = True

    def _snapshot_info(self) -> RunInfo:
        return dataclasses.replace(
            self._info, config=self._config.as_dict(), summary=self.summary.as_dict()
        )

    def _persist_soon(self) -> None:
        """Rewrite run.json (config, summary) on the commit thread, at most every
        PERSIST_EVERY seconds; finish() writes the final one."""
        if not self._info_dirty or self.shard is not None or self._offline:
            return  # (ranks of a sharded run write theirs at finish, merged)
        now = time.monotonic()
        if now - self._info_written < PERSIST_EVERY:
            return
        self._info_dirty = False
        self._info_written = now
        info = dataclasses.replace(self._snapshot_info(), updated=time.time())
        self._info = info
        data = encode_run_info(info)
        key = paths.run_json_key(self.project, self.id)
        self._worker.submit(lambda: self._put_info(key, data), len(data))

    def _put_info(self, key: str, data: bytes) -> None:
        if self._spool is not None and self._spool.pending:
            return  # unreachable: finish() (or sync) writes it
        try:
            with store_deadline.deadline(time.monotonic() + self._retry_for):
                self._store.put(key, data)  # one request: it must not hold up the queue
        except (StoreError, CommitStateUnknownError) as e:
            self._info_dirty = True  # try again later
            log.debug("tablelog: run.json of %s not rewritten: %s", self.path, e)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.finish(exit_code=1 if exc_type is not None else 0)


def _finish_at_exit(ref: weakref.ref[Run]) -> None:
    run = ref()
    if run is not None and not run._finished:
        try:
            run.finish()
        except TablelogError as e:
            log.error("tablelog: run %s could not be finished at exit: %s", run.path, e)


#: A history value kept as it is until its row is written (PLAIN_TYPES), and the
#: manifest JSON of its Arrow type.
Plain = int | float | str | bool
_PLAIN_JSON = {t: type_to_json(arrow) for t, arrow in PLAIN_TYPES.items()}
#: Converters of history rows kept (one per set of columns and types seen).
_HISTORY_SHAPES = 64


def _upload_job(upload: Callable[..., ColumnGroup], ref: TableRef, job: LogJob) -> ColumnGroup:
    """(Upload pool) ``job``'s rows uploaded ahead of its commit: deferred rows are
    converted here, not on the caller's thread."""
    assert job.rows is not None
    return upload(ref, job.rows, job.blobs)


def _type_name(t: Any) -> str:
    """A manifest type in a message: ``int64``, ``string``, ``media cell``, ..."""
    if isinstance(t, str):
        return t
    if isinstance(t, dict) and "struct" in t:
        return "media cell" if t == type_to_json(MEDIA_TYPE) else "struct"
    if isinstance(t, dict) and t.get("list") == type_to_json(MEDIA_TYPE):
        return "list of media cells"
    return next(iter(t), "nested") if isinstance(t, dict) else str(t)


#: The largest step: steps are stored as int64.
_MAX_STEP = 2**63 - 1


def _checked_step(step: object) -> int | None:
    """``step`` as a plain int in 0..2**63 - 1 (None: the run's next step), or a
    RunError; integers of other types (numpy, IntEnum) become plain ints."""
    if step is None:
        return None
    as_int = step if type(step) is int else None
    if as_int is None and not isinstance(step, bool):
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            as_int = int(step)  # type: ignore[call-overload]
        if as_int != step:  # (3.5, "7")
            as_int = None
    if as_int is None:
        raise RunError(f"step must be an integer, got {step!r}")
    if as_int < 0:
        raise RunError(f"step must be >= 0, got {as_int}")
    if as_int > _MAX_STEP:  # (readers hold steps as int64)
        raise RunError(f"step must be at most 2**63 - 1, got {as_int}")
    return as_int


def _is_dataframe(value: Any) -> bool:
    t = type(value)
    return t.__name__ == "DataFrame" and t.__module__.split(".")[0] in ("pandas", "polars")


def _with_plain_cells(
    data: Mapping[str, Any], cells: dict[str, pa.Array | Plain], plain_values: dict[str, Any]
) -> dict[str, pa.Array | Plain]:
    """``cells`` with the cells of ``plain_values`` added, in the order of ``data``.

    Plain values stay Python values (the history row converts them, off this thread,
    when it is written): a value Arrow cannot take as such (an int beyond int64, a
    lone surrogate) goes through :func:`_history_array`, which stores it or says why
    not, here and now.
    """
    both = dict(cells)
    for k, v in plain_values.items():
        t = type(v)
        if (t is int and not INT64_MIN <= v <= INT64_MAX) or (
            t is str and not v.isascii() and surrogate_at(v) is not None
        ):
            both[k] = _history_array(k, v)
        else:
            both[k] = v
    return {k: both[k] for k in data if k in both}


def _history_cell(key: str, value: Any, blobs: dict[str, bytes]) -> tuple[pa.Array, Any]:
    """One value of a history row as a 1-row Arrow array, and its summary value
    (plain ints, floats, strs and bools go through :func:`_with_plain_cells` instead).

    Media become media cells (their bytes go into ``blobs``), a list of media a list
    of cells; anything Arrow cannot hold is refused here, never stored as its text.
    """
    if is_media(value):
        blobs.update(value.blobs())
        return pa.array([value.to_cell()], type=MEDIA_TYPE), plain(key, value)
    if isinstance(value, list | tuple) and value and any(is_media(v) for v in value):
        if not all(is_media(v) for v in value):
            raise RunError(
                f"cannot log {key!r}: a list mixes media values with other values; log "
                "the media under one key and the other values under another"
            )
        for v in value:
            blobs.update(v.blobs())
        cells = [v.to_cell() for v in value]
        return pa.array([cells], type=pa.list_(MEDIA_TYPE)), plain(key, value)
    _check_scalar(key, value)
    if isinstance(value, Mapping):
        _refuse_nested_media(key, value)
    return _history_array(key, value), plain(key, value)


def _refuse_nested_media(key: str, value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if is_media(item):
            raise RunError(
                f"cannot log {key!r}: it holds a media value inside a dict; log media "
                f"under a key of their own (e.g. {{'{key}/name': image}})"
            )
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _history_array(key: str, value: Any) -> pa.Array:
    if value is None:
        return pa.nulls(1)
    if isinstance(value, float) and math.isnan(value):
        return pa.array([None], type=pa.float64())
    if type(value).__name__ == "ndarray" and value.ndim > 0:
        value = value.tolist()
    if isinstance(value, list | tuple | Mapping):
        check_text(f"cannot log {key!r}: its value", value, RunError)
        return pa.array([to_json_text(value)], type=pa.string())
    try:
        arr = pa.array([value], from_pandas=True)
    except (
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        pa.ArrowNotImplementedError,
        OverflowError,
        UnicodeError,
    ) as e:
        raise RunError(
            f"cannot log {key!r}: {type(value).__name__} value {value!r:.60} cannot be "
            f"stored ({e}); log numbers, strings, bools, datetimes, lists, dicts, media "
            "or a Table"
        ) from e
    if pa.types.is_integer(arr.type):
        return arr.cast(pa.int64()) if arr.type != pa.uint64() else arr.cast(pa.float64())
    if pa.types.is_floating(arr.type) and arr.type != pa.float64():
        return arr.cast(pa.float64())
    return arr


def _check_scalar(key: str, value: Any) -> None:
    try:
        kind_of(value)
    except TablelogError as e:
        raise RunError(f"cannot log {key!r}: {e}") from e
