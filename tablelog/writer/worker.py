"""The run's background committer: a bounded queue and one thread.

``run.log`` hands each commit to the queue and returns; the worker uploads and
commits in log order. When the queue is full — ``maxsize`` commits, or ``max_bytes`` of
rows waiting — the caller blocks (and says so once); nothing is dropped. The byte
bound keeps a writer's memory flat when it logs faster than the store takes commits.
A task that fails never stops the worker: the tasks after it (other keys, later
logs) still run. Each failure is kept in ``failures`` (and told to ``on_failure`` at
once, on the worker thread); the run reports them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

R = TypeVar("R")

log = logging.getLogger("tablelog")

Task = Callable[[], None]


class Worker:
    """Runs tasks in order on a daemon thread; ``sync=True`` runs them in the caller."""

    def __init__(
        self,
        *,
        maxsize: int = 1000,
        max_bytes: int = 64 << 20,
        sync: bool = False,
        uploads: int = 4,
        name: str = "tablelog",
    ) -> None:
        self.sync = sync
        self._uploads = uploads
        self._pool: ThreadPoolExecutor | None = None
        #: Called on the worker thread when it has been idle for ``idle_every`` seconds.
        self.on_idle: Callable[[], None] | None = None
        self.idle_every = 2.0
        #: Called on the worker thread after each task, with whether the queue is empty
        #: now; its errors are logged, never reported as failed tasks.
        self.after_task: Callable[[bool], None] | None = None
        #: Every task that failed, in order: (its label, the error).
        self.failures: list[tuple[str, BaseException]] = []
        #: Called on the worker thread with (label, error) as each task fails.
        self.on_failure: Callable[[str, BaseException], None] | None = None
        self._queue: queue.Queue[tuple[Task, int, str] | None] = queue.Queue(maxsize=maxsize)
        self._max_bytes = max_bytes
        #: Bytes of the submitted tasks not yet run (the first one always fits).
        self._bytes = 0
        self._room = threading.Condition()
        self._warned_full = False
        self._thread: threading.Thread | None = None
        if not sync:
            self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
            self._thread.start()

    def prefetch(self, fn: Callable[..., R], *args: Any) -> Future[R] | None:
        """Start ``fn(*args)`` on the upload pool now (None when running synchronously).

        Uploads are content-addressed, so they may run ahead of, and in parallel
        with, the commits that reference them; commits stay in log order.
        """
        if self.sync:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._uploads, thread_name_prefix="tablelog-upload")
        return self._pool.submit(fn, *args)

    @property
    def error(self) -> BaseException | None:
        """The first failure, if any."""
        return self.failures[0][1] if self.failures else None

    @property
    def failed_tasks(self) -> int:
        return len(self.failures)

    def _failed(self, label: str, error: BaseException) -> None:
        self.failures.append((label, error))
        if self.on_failure is not None:
            try:
                self.on_failure(label, error)
            except Exception:  # (reporting must never stop the worker)
                log.exception("tablelog: reporting a failed commit failed")

    def reserve(self, size: int) -> None:
        """Count ``size`` bytes that a task already queued (or running) will commit,
        waiting while the byte budget is full, as :meth:`submit` does; the task gives
        them back with :meth:`release`."""
        if self.sync:
            return
        start = time.monotonic()
        self._wait_for_room(size)
        waited = time.monotonic() - start
        if waited > 0.5:
            log.info("tablelog: run.log waited %.1f s for the commit queue", waited)

    def release(self, size: int) -> None:
        """(Worker thread) Give back bytes counted by :meth:`reserve`."""
        if self.sync or not size:
            return
        with self._room:
            self._bytes -= size
            self._room.notify_all()

    def report(self, label: str, error: BaseException) -> None:
        """(Worker thread) Report a failure of part of a task that goes on (the task
        itself did not fail)."""
        self._failed(label, error)

    def _wait_for_room(self, size: int) -> None:
        with self._room:
            if self._bytes and self._bytes + size > self._max_bytes:
                self._warn_full(f"{self._bytes / 2**20:.0f} MiB of rows are")
                while self._bytes and self._bytes + size > self._max_bytes:
                    self._room.wait()
            self._bytes += size

    def submit(self, task: Task, size: int = 0, label: str = "") -> None:
        """Queue ``task``; ``size`` is the bytes it holds until it has run, ``label``
        names it in failure reports."""
        if self.sync:
            task()
            return
        start = time.monotonic()
        self._wait_for_room(size)
        try:
            try:
                self._queue.put_nowait((task, size, label))
            except queue.Full:
                self._warn_full(f"{self._queue.maxsize} commits are")
                self._queue.put((task, size, label))
        except BaseException:  # (Ctrl-C while blocked) the task was not queued
            with self._room:
                self._bytes -= size
                self._room.notify_all()
            raise
        waited = time.monotonic() - start
        if waited > 0.5:
            log.info("tablelog: run.log waited %.1f s for the commit queue", waited)

    def _warn_full(self, what: str) -> None:
        if not self._warned_full:
            log.warning(
                "tablelog: %s waiting for the store; run.log blocks until there is room "
                "(the store is slow or unreachable, or logs come faster than it commits)",
                what,
            )
            self._warned_full = True

    def _loop(self) -> None:
        while True:
            try:
                task = self._queue.get(timeout=self.idle_every)
            except queue.Empty:
                if self.on_idle is not None:
                    try:
                        self.on_idle()
                    except Exception as e:
                        self._failed("sending spooled logs", e)
                continue
            try:
                if task is None:
                    return
                run, _size, label = task
                try:
                    run()
                except Exception as e:  # reported; the next tasks still run
                    self._failed(label, e)
            finally:
                if task is not None:
                    with self._room:
                        self._bytes -= task[1]
                        self._room.notify_all()
                self._queue.task_done()
            if self.after_task is not None:
                try:
                    self.after_task(self._queue.empty())
                except Exception:  # (an optimisation must never stop the worker)
                    log.exception("tablelog: the commit thread's after-task hook failed")

    @property
    def pending(self) -> int:
        return self._queue.unfinished_tasks

    def flush(self) -> None:
        """Wait until every submitted task has run."""
        if not self.sync:
            self._queue.join()

    def close(self) -> None:
        """Flush, then stop the thread."""
        if self._thread is not None and self._thread.is_alive():
            self.flush()
            self._queue.put(None)
            self._thread.join()
        if self._pool is not None:
            # Uploads nobody will commit (their logs were spooled) need not run.
            self._pool.shutdown(wait=True, cancel_futures=True)
