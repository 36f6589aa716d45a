"""``Run``: logs tables and scalars (background commits, released rows, shards)."""

from __future__ import annotations

import atexit
import collections
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
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

import pyarrow as pa

from tablelog.errors import (
    CommitStateUnknownError,
    NotFoundError,
    RunError,
    StoreError,
    TablelogError,
    UnsafeStoreError,
)
from tablelog.format import paths
from tablelog.format.chain import TableRef, find_shards
from tablelog.format.manifest import ColumnGroup
from tablelog.objects.store import Store
from tablelog.table.table import Table
from tablelog.table.types import kind_of, to_json_text
from tablelog.writer.committer import KeyCommitter, read_group, upload_group
from tablelog.writer.keylog import KeyLog, LogJob, arrow_bytes
from tablelog.writer.merge import Budget, Tail
from tablelog.writer.runinfo import RunInfo, encode_run_info, parse_run_info
from tablelog.writer.spool import Spool, push, spool_root
from tablelog.writer.worker import Worker

log = logging.getLogger("tablelog")

HISTORY_KEY = "_history"


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
    ) -> None:
        self._store = store
        self.shard = shard
        self._keep_logged_rows = keep_logged_rows
        #: INCREMENTAL Tables this handle logged, and their rows committed since (from
        #: the worker) that the Table can release from memory on its own thread.
        self._tables: weakref.WeakValueDictionary[str, Table] = weakref.WeakValueDictionary()
        self._landed: collections.deque[tuple[str, int, int, int, ColumnGroup]] = (
            collections.deque()
        )
        self._compact_at = compact_at
        self._storage_options = storage_options
        self._info = info
        self.resumed = resumed
        self._single_writer = single_writer
        self._writer_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._keys: dict[str, tuple[KeyLog, KeyCommitter]] = {}
        #: Rows all keys' committers keep for merging (run/merge.py).
        self._merge_budget = Budget()
        self._worker = Worker(maxsize=queue_size, max_bytes=queue_bytes, sync=sync)
        self._worker.on_idle = lambda: self._drain(force=False)
        self._spool: Spool | None = None
        self._spool_folder = (
            spool_root()
            / paths.encode(info.project)
            / paths.encode(info.run_id)
            / paths.encode(self._writer_id)
        )
        self._next_drain = 0.0
        self._drain_backoff = 1.0
        self._retry_for = retry_for
        # A script that never calls finish() still gets its queued logs committed.
        atexit.register(_finish_at_exit, weakref.ref(self))
        self._summary_none: set[str] = set()
        # Ranks of a sharded run step on their own: only this handle's steps must grow.
        self._last_step: int | None = info.last_step if shard is None else None
        self._finished = False
        self._checked_store = False
        self.summary: dict[str, Any] = {}

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
    def config(self) -> dict[str, Any]:
        return dict(self._info.config)

    @property
    def root(self) -> str:
        return self._store.url

    @property
    def path(self) -> str:
        return f"{self.project}/{self.id}"

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` uses."""
        return 0 if self._last_step is None else self._last_step + 1

    def __repr__(self) -> str:
        return f"Run({self.path!r}, root={self.root!r})"

    # ------------------------------------------------------------------ logging

    def define_metric(self, name: str, *, summary: str | None = None, **_: Any) -> None:
        """Declare how a key is summarised; ``summary="none"`` on an INCREMENTAL key
        (or ``"*"``) logs each increment as a new, separate table version."""
        if not isinstance(name, str) or not name:
            raise RunError(f"define_metric needs a key name or '*', got {name!r}")
        if summary is not None and summary.lower() == "none":
            self._summary_none.add(name)
        else:
            self._summary_none.discard(name)

    def _separate(self, key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, pat) for pat in self._summary_none)

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Log tables and scalars at ``step`` (steps only move forward).

        Tables go to their key; every other value goes to the run's history table
        (``scan("project/run/_history")``), one row per call.
        """
        del commit  # every log is committed; accepted for W&B compatibility
        if self._finished:
            raise RunError(f"run {self.path} is finished; start or resume a run to log more")
        self._raise_worker_error()
        if not isinstance(data, Mapping):
            raise RunError(f"run.log takes a dict of key -> value, got {type(data).__name__}")
        tables: dict[str, Table] = {}
        scalars: dict[str, Any] = {}
        for key, value in data.items():
            paths.check_key(key)
            if isinstance(value, Table):
                if self.shard is not None and paths.SHARD_COLUMN in value.columns:
                    raise RunError(
                        f"cannot log {key!r}: column {paths.SHARD_COLUMN!r} is reserved in a "
                        "sharded run (readers name each row's shard in it); rename the column"
                    )
                tables[key] = value
            else:
                _check_scalar(key, value)
                scalars[key] = value
        self._check_store()
        # Steps grow along every chain: a chain already ahead (a shard's restarted rank,
        # another handle of the run) moves this handle's steps on.
        self._step_floor([*tables, *([HISTORY_KEY] if scalars else [])])
        step = self._next_step(step)
        self._release_landed()
        for key, table in tables.items():
            keylog, committer = self._writer(key)
            job = keylog.prepare(table, step=step, separate=self._separate(key))
            if job is not None:
                if job.source is not None and not self._keep_logged_rows:
                    self._tables[table._uid] = table  # its rows are released once committed
                self._submit(committer, job)
            self.summary[key] = {"_type": "table", "rows": table.num_rows}
        if scalars:
            self._log_history(step, scalars)
            self.summary.update(scalars)
        self._last_step = step

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
        if step is None:
            return self.step
        if isinstance(step, bool) or not isinstance(step, int):
            try:
                as_int = int(step)  # numpy integers
            except (TypeError, ValueError):
                as_int = None
            if as_int is None or as_int != step or isinstance(step, bool):
                raise RunError(f"step must be an integer, got {step!r}")
            step = as_int
        if step < 0:
            raise RunError(f"step must be >= 0, got {step}")
        if self._last_step is not None and step < self._last_step:
            raise RunError(
                f"steps only move forward: step {step} is before the last logged step "
                f"{self._last_step} of run {self.path}"
            )
        return step

    def _check_store(self) -> None:
        if self._checked_store:
            return
        probe = getattr(self._store, "check_conditional_create", None)
        if probe is not None and not self._single_writer:
            probe()
        self._checked_store = True

    def _writer(self, key: str) -> tuple[KeyLog, KeyCommitter]:
        found = self._keys.get(key)
        if found is None:
            table_key = key if self.shard is None else paths.shard_key(self.shard, key)
            ref = TableRef(self._store, self.project, self.id, table_key)
            committer = KeyCommitter(
                ref=ref, writer=self._writer_id, tail=Tail(budget=self._merge_budget)
            )
            if not self._keep_logged_rows:
                committer.on_landed = self._on_landed
            # One read per key and handle, so a resumed INCREMENTAL key continues and a
            # log_mode clash is reported by log() itself.
            try:
                state = committer.open()
                if state.version < 0:
                    self._check_sharding(key)
            except (StoreError, CommitStateUnknownError):
                # Unreachable now: the commit (or the spool) finds the table later.
                state = committer.state
            keylog = KeyLog(key=key, path=ref.path, mode=state.mode, retry_for=self._retry_for)
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

    def _on_landed(self, job: LogJob, group: ColumnGroup) -> None:
        """(Worker thread) ``job``'s rows are committed in ``group``: queue them for their
        Table, which releases them on its own thread (``_release_landed``)."""
        if job.source is not None and job.rows is not None:
            uid, generation = job.source
            self._landed.append((uid, job.first_row, job.rows.num_rows, generation, group))

    def _release_landed(self) -> None:
        """Hand committed rows to their Tables (on the caller's thread, as Tables are
        not thread-safe): each drops the batches they cover and reads them back later."""
        while self._landed:
            uid, first, n, gen, group = self._landed.popleft()
            table = self._tables.get(uid)
            if table is not None:
                loader = functools.partial(read_group, self._store, group)
                table._release(first, n, loader, gen)

    def _submit(self, committer: KeyCommitter, job: LogJob) -> None:
        rows_group = None
        offline = self._spool is not None and self._spool.pending > 0
        if job.writes_rows and self._store.parallel_uploads and not offline:
            assert job.rows is not None
            upload = functools.partial(upload_group, present=committer.media_present)
            rows_group = self._worker.prefetch(upload, committer.ref, job.rows, job.blobs)
        size = sum(arrow_bytes(t) for t in (job.rows, job.new_columns) if t is not None)
        self._worker.submit(lambda: self._commit(committer, job, rows_group), size)

    # ------------------------------------------------------------ offline spool

    def _commit(
        self, committer: KeyCommitter, job: LogJob, rows_group: Future[ColumnGroup] | None
    ) -> None:
        """Commit ``job`` (on the worker), or spool it while the store is unreachable."""
        if self._spool is not None and self._spool.pending:
            if rows_group is not None:
                rows_group.cancel()
            self._spool_job(committer, job)  # keep log order behind what is spooled
            self._drain(force=False)
            return
        try:
            committer.apply(job, rows_group=rows_group)
        except (StoreError, CommitStateUnknownError) as e:
            if isinstance(e, UnsafeStoreError):  # unsafe, not unreachable: never spool
                raise
            if rows_group is not None:
                rows_group.cancel()
            self._spool_job(committer, job)
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
        if spool is None or not spool.pending:
            return
        now = time.monotonic()
        if not force and now < self._next_drain:
            return
        try:
            done, _ = push(spool, lambda entry: self._keys[entry.job.key][1], wait=False)
        except (StoreError, CommitStateUnknownError):
            # Still unreachable: try again later, less and less often (each try costs
            # the client's own retries).
            self._drain_backoff = min(self._drain_backoff * 2, 60.0)
            self._next_drain = time.monotonic() + self._drain_backoff
            return
        self._drain_backoff = 1.0
        if done and not spool.pending:
            log.warning("tablelog: %s answers again; the spooled logs are committed", self.root)

    def _raise_worker_error(self) -> None:
        error = self._worker.error
        if error is not None:
            lost = self._worker.failed_tasks
            raise RunError(
                f"a background commit of run {self.path} failed ({lost} log(s) not "
                f"committed): {error}"
            ) from error

    def flush(self) -> None:
        """Wait until everything logged so far is committed (errors are raised here)."""
        self._worker.flush()
        self._release_landed()
        self._raise_worker_error()

    def _log_history(self, step: int, scalars: dict[str, Any]) -> None:
        row: dict[str, Any] = {"_step": step, "_time": time.time(), **scalars}
        table = Table(columns=list(row), log_mode="INCREMENTAL")
        table._append_arrow(pa.table({k: _history_array(v) for k, v in row.items()}))
        keylog, committer = self._writer(HISTORY_KEY)
        job = keylog.prepare(table, step=step, separate=False)
        if job is not None:
            self._submit(committer, job)

    # ------------------------------------------------------------------ finish

    def finish(self, exit_code: int | None = None) -> None:
        """Mark the run finished (or failed, for a non-zero ``exit_code``)."""
        if self._finished:
            return
        self._finished = True
        self._worker.close()
        self._drain(force=True)
        for _keylog, committer in self._keys.values():
            committer.tail.clear()  # nothing more to merge
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
        error = self._worker.error
        if error is None and self._compact_at is not None:
            self._compact_tables(self._compact_at)
        status = "failed" if exit_code or error is not None else "finished"
        self._write_info(status)
        self._raise_worker_error()

    def _compact_tables(self, at: int) -> None:
        """``compact_at``: compact each table this run logged that has >= ``at`` fragments."""
        from tablelog.maintenance.compact import compact

        for keylog, committer in self._keys.values():
            if len(committer.state.fragments) < at:
                continue
            try:
                done = compact(
                    committer.ref.path,
                    root=self._store.url,
                    storage_options=self._storage_options,
                    min_fragments=at,
                )
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
                other = _read_info(self._store, paths.run_json_key(self.project, self.id))
            except TablelogError:
                other = None
            if other is not None:
                steps = [s for s in (last_step, other.last_step) if s is not None]
                last_step = max(steps) if steps else None
                if other.status == "failed":
                    status = "failed"
        self._info = dataclasses.replace(
            self._info, status=status, updated=time.time(), last_step=last_step
        )
        self._store.put(paths.run_json_key(self.project, self.id), encode_run_info(self._info))

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


def _history_array(value: Any) -> pa.Array:
    if isinstance(value, float) and math.isnan(value):
        return pa.array([None], type=pa.float64())
    if isinstance(value, dict | list | tuple):
        return pa.array([to_json_text(value)], type=pa.string())
    try:
        arr = pa.array([value])
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([str(value)], type=pa.string())
    if pa.types.is_integer(arr.type):
        return arr.cast(pa.int64()) if arr.type != pa.uint64() else arr.cast(pa.float64())
    return arr


def _check_scalar(key: str, value: Any) -> None:
    try:
        kind_of(value)
    except TablelogError as e:
        raise RunError(f"cannot log {key!r}: {e}") from e


def _read_info(store: Store, key: str) -> RunInfo | None:
    try:
        data = store.get(key)
    except NotFoundError:
        return None
    return parse_run_info(data, where=store.full_url(key))
