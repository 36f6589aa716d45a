"""A network store whose requests run in a child process (``init(store_process=True)``).

s3fs runs each request's Python (botocore's signing, hooks and reply parsing: about
1.5 ms of CPU on a small VM) on an event-loop thread of the process that sends it,
holding the GIL. A training loop whose ``run.log`` lets the GIL go for a moment then
waits for that Python to finish first (docs/speed.md, "run.log latency"). Here the
same :class:`FsspecStore` runs in a child process, with a GIL of its own; this process
only pickles each call and its answer through a pipe.

Every call keeps its meaning: the child runs the very method of the same store class,
with the caller's deadline (``tablelog.objects.deadline``) carried over as the time
left, and its errors (tablelog's own, already translated there) come back as they were
raised. If the child is gone (killed, or the pipe broken), calls in flight fail with
:class:`StoreUnavailableError` (the callers' retries apply) and later calls run in this
process, as without the option. A forked copy of this process (a data loader's workers)
also runs its calls in-process: it must not share the parent's pipe.

The child is ``python -m tablelog.objects.process``; it exits when its input closes:
:meth:`ProcessStore.close` (``run.finish()``), or this process ending.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from tablelog.errors import StoreUnavailableError
from tablelog.objects import deadline
from tablelog.objects.fsspec_store import FsspecStore
from tablelog.objects.store import Store

log = logging.getLogger("tablelog")

_HEADER = struct.Struct("<Q")
#: Requests the child runs at once (the commit thread's parallel uploads, a reader).
_CHILD_THREADS = 16


def _send(stream: IO[bytes], message: Any, lock: threading.Lock) -> None:
    data = pickle.dumps(message, protocol=5)
    with lock:
        stream.write(_HEADER.pack(len(data)))
        stream.write(data)
        stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


class ProcessStore(Store):
    """``inner``'s requests, run by a child process (module docstring)."""

    def __init__(self, inner: FsspecStore) -> None:
        self._inner = inner
        self.url = inner.url
        self.capabilities = inner.capabilities
        self.remote = inner.remote
        self.request_timeout = inner.request_timeout
        self._pid = os.getpid()
        self._write_lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count()
        #: Why the child is gone (the reader saw its answers end), and whether this
        #: store was closed: either way, calls run in this process.
        self._gone: str | None = None
        self._closed = False
        # The child imports this very tablelog, wherever it was imported from.
        package_dir = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": package_dir + (os.pathsep + path if path else "")}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tablelog.objects.process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                start_new_session=True,  # (a Ctrl-C meant for this process is not its)
            )
        except OSError as e:
            raise StoreUnavailableError(f"{self.url}: no store process: {e}") from e
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin, self._stdout = self._proc.stdin, self._proc.stdout
        try:
            # (The options travel through the pipe, never the command line: they may
            # hold keys.)
            _send(self._stdin, (inner.url, dict(inner.options)), self._write_lock)
            ready = _receive(self._stdout)
        except OSError as e:
            ready = e
        if ready != "ready":
            self._proc.kill()
            self._stdin.close()
            self._stdout.close()
            self._proc.wait()
            raise StoreUnavailableError(f"{self.url}: the store process did not start ({ready!r})")
        threading.Thread(
            target=self._read_answers, name="tablelog-store-process", daemon=True
        ).start()

    def __repr__(self) -> str:
        return f"ProcessStore({self.url!r}, pid {self._proc.pid})"

    def close(self) -> None:
        """Let the child finish what it was asked and exit; later calls run in this
        process (idempotent)."""
        self._closed = True
        with self._write_lock, contextlib.suppress(OSError):
            self._stdin.close()

    # ------------------------------------------------------------------ plumbing

    def _read_answers(self) -> None:
        while True:
            try:
                answer = _receive(self._stdout)
            except Exception as e:  # (an answer that does not unpickle)
                answer, why = None, f"an answer could not be read: {e!r}"
            else:
                why = "it exited"
            if answer is None:
                self._gone = why
                self._stdout.close()
                if why != "it exited":
                    self._proc.kill()
                self._proc.wait()
                for rid in list(self._pending):
                    fut = self._pending.pop(rid, None)
                    if fut is not None:
                        fut.set_exception(self._unavailable())
                return
            rid, ok, value = answer
            fut = self._pending.pop(rid, None)
            if fut is not None:
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)

    def _unavailable(self) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"{self.url}: the store process (pid {self._proc.pid}) is gone "
            f"({self._gone}); later calls run in this process"
        )

    def _call(self, name: str, *args: Any) -> Any:
        if self._closed or self._gone is not None or os.getpid() != self._pid:
            return _invoke(self._inner, name, args)
        at = deadline.current()
        left = None if at is None else at - time.monotonic()
        rid = next(self._ids)
        fut: Future[Any] = Future()
        self._pending[rid] = fut
        try:
            _send(self._stdin, (rid, name, args, left), self._write_lock)
        except (OSError, ValueError):  # the pipe is broken or closed
            self._pending.pop(rid, None)
            self._gone = self._gone or "its pipe is closed"
            raise self._unavailable() from None
        if self._gone is not None and self._pending.pop(rid, None) is not None:
            raise self._unavailable()  # (gone before the reader could fail it)
        return fut.result()

    # ------------------------------------------------------------ the contract

    def get(self, key: str) -> bytes:
        return self._call("get", key)  # type: ignore[no-any-return]

    def put(self, key: str, data: bytes) -> None:
        self._call("put", key, data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self._call("put_if_absent", key, data)  # type: ignore[no-any-return]

    def exists(self, key: str) -> bool:
        return self._call("exists", key)  # type: ignore[no-any-return]

    def list(self, prefix: str) -> Iterator[str]:
        return iter(self._call("list", prefix))

    def delete(self, key: str) -> None:
        self._call("delete", key)

    def list_page(
        self, prefix: str, *, start_after: str | None = None, max_keys: int = 1000
    ) -> tuple[builtins.list[str], bool]:
        return self._call("list_page", prefix, start_after, max_keys)  # type: ignore[no-any-return]

    def list_page_etags(
        self, prefix: str, *, start_after: str | None = None, max_keys: int = 1000
    ) -> tuple[builtins.list[tuple[str, str]], bool]:
        return self._call("list_page_etags", prefix, start_after, max_keys)  # type: ignore[no-any-return]

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self._call("get_range", key, start, end)  # type: ignore[no-any-return]

    def get_many(self, keys: builtins.list[str]) -> builtins.list[bytes]:
        return self._call("get_many", keys)  # type: ignore[no-any-return]

    def get_many_or_none(self, keys: builtins.list[str]) -> builtins.list[bytes | None]:
        return self._call("get_many_or_none", keys)  # type: ignore[no-any-return]

    def exists_many(self, keys: builtins.list[str]) -> builtins.list[bool]:
        return self._call("exists_many", keys)  # type: ignore[no-any-return]

    def mtime(self, key: str) -> float:
        return self._call("mtime", key)  # type: ignore[no-any-return]

    def stat(self, key: str) -> tuple[float, int | None]:
        return self._call("stat", key)  # type: ignore[no-any-return]

    def temp_keys(self, prefixes: Sequence[str]) -> builtins.list[str]:
        return self._call("temp_keys", builtins.list(prefixes))  # type: ignore[no-any-return]

    def check_conditional_create(self) -> None:
        self._call("check_conditional_create")

    def root_exists(self) -> bool:
        return self._call("root_exists")  # type: ignore[no-any-return]

    # No request: answered here, as the inner store answers them.
    def full_url(self, key: str) -> str:
        return self._inner.full_url(key)

    def reader_source(self, key: str) -> str | bytes:
        return self._inner.reader_source(key)

    def reader_options(self) -> Mapping[str, Any] | None:
        return self._inner.reader_options()


#: ProcessStore's calls whose arguments are not simply positional (the rest: the
#: method of that name).
_CALLS: dict[str, Callable[..., Any]] = {
    "list": lambda s, prefix: builtins.list(s.list(prefix)),
    "list_page": lambda s, p, a, m: s.list_page(p, start_after=a, max_keys=m),
    "list_page_etags": lambda s, p, a, m: s.list_page_etags(p, start_after=a, max_keys=m),
}


def _invoke(store: Store, name: str, args: tuple[Any, ...]) -> Any:
    """``store``'s call ``name`` with ProcessStore's positional ``args``."""
    call = _CALLS.get(name)
    return call(store, *args) if call is not None else getattr(store, name)(*args)


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The child: open the store it is sent, then run calls until ``stdin`` ends."""
    lock = threading.Lock()
    first = _receive(stdin)
    if first is None:
        return
    url, options = first
    try:
        store = FsspecStore(url, options)
    except Exception as e:
        _send(stdout, e, lock)
        return
    _send(stdout, "ready", lock)

    def run(rid: int, name: str, args: tuple[Any, ...], left: float | None) -> None:
        try:
            if left is None:
                answer = (rid, True, _invoke(store, name, args))
            else:
                with deadline.deadline(time.monotonic() + left):
                    answer = (rid, True, _invoke(store, name, args))
        except Exception as e:
            answer = (rid, False, e)
        try:
            _send(stdout, answer, lock)
        except Exception as e:  # an answer that does not pickle: say what it was
            error = StoreUnavailableError(f"{url}: {name} failed: {answer[2]!r} ({e!r})")
            _send(stdout, (rid, False, error), lock)

    with ThreadPoolExecutor(_CHILD_THREADS, thread_name_prefix="tablelog-store") as pool:
        while (request := _receive(stdin)) is not None:
            pool.submit(run, *request)


def main() -> None:
    """Answers go to a copy of the original stdout; anything a library prints goes to
    stderr instead of into the answers."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
