"""A network store whose requests run in a child process (``init(store_process=True)``).

s3fs runs each request's Python (botocore's signing, hooks and reply parsing: about
1.5 ms of CPU on a small VM) on an event-loop thread of the process that sends it,
holding the GIL. A training loop whose ``run.log`` lets the GIL go for a moment then
waits for that Python to finish first (docs/speed.md, "run.log latency"). Here the
same :class:`FsspecStore` runs in a child process, with a GIL of its own; this process
only pickles each call and its answer through a pair of pipes.

Every call keeps its meaning: the child runs the very method of the same store class,
with the caller's deadline (``tablelog.objects.deadline``) carried over as the time
left, and its errors (tablelog's own, already translated there) come back with their
class. When the child is gone (killed, or its pipe broken) or the store is closed,
calls run in this process, as without the option; a call that was in flight is run
again here, except a create-if-absent that may have landed, which fails as
:class:`StoreUnavailableError` (the commit protocol reads the manifest back). A forked
copy of this process (a data loader's workers) opens its own in-process store.

The child is ``python -P -c <bootstrap>``, importing this module; it answers on a pipe
of its own (not stdout, where a library may print) and exits when its input ends:
:meth:`ProcessStore.close` (``run.finish()``), or this process ending.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import logging
import os
import pickle
import queue
import select
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
#: The child's first answer: it started, and the pipe carries this protocol.
_READY = ("tablelog store process", 1)
#: Seconds a child may take to import and answer (a cold start on a loaded machine).
START_TIMEOUT_S = 60.0
#: Requests the child runs at once (the commit thread's parallel uploads, a reader).
_CHILD_THREADS = 16
#: The one call that must not be sent twice: a second create-if-absent of an object
#: the first one created answers False.
_NOT_AGAIN = frozenset({"put_if_absent"})
#: The child's command: its answers go to the descriptor in argv[2], never stdout.
_BOOTSTRAP = (
    "import sys; p = sys.argv[1]; p in sys.path or sys.path.append(p); "
    "from tablelog.objects.process import main; main(int(sys.argv[2]))"
)


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=5)
    return _HEADER.pack(len(data)) + data


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


class _Gone(Exception):
    """(Internal) the child ended before answering; ``sent``: the request reached it."""

    def __init__(self, sent: bool) -> None:
        super().__init__(sent)
        self.sent = sent


class ProcessStore(Store):
    """``inner``'s requests, run by a child process (module docstring)."""

    def __init__(self, inner: FsspecStore) -> None:
        self._inner = inner
        self.url = inner.url
        self.capabilities = inner.capabilities
        self.remote = inner.remote
        self.request_timeout = inner.request_timeout
        self._pid = os.getpid()
        self._forked: FsspecStore | None = None
        self._pending: dict[int, Future[Any]] = {}
        #: Requests handed to the pipe and not answered yet (they may have reached
        #: the child: a create-if-absent among them is not run again in-process).
        self._sent: set[int] = set()
        self._ids = itertools.count()
        #: Why the child is gone (its answers ended), and whether this store was
        #: closed: either way, calls run in this process.
        self._gone: str | None = None
        self._closed = False
        #: Frames for the writer thread (None: close the child's input). A queue, so
        #: that a signal handler's call never waits on a lock its thread holds.
        self._outbox: queue.SimpleQueue[tuple[int, bytes] | None] = queue.SimpleQueue()
        answers_r, answers_w = os.pipe()
        package_dir = str(Path(__file__).resolve().parents[2])
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-P", "-c", _BOOTSTRAP, package_dir, str(answers_w)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                pass_fds=(answers_w,),
                start_new_session=True,  # (a Ctrl-C meant for this process is not its)
            )
        except OSError as e:
            os.close(answers_r)
            raise StoreUnavailableError(f"{self.url}: no store process: {e}") from e
        finally:
            os.close(answers_w)
        assert self._proc.stdin is not None
        self._stdin = self._proc.stdin
        self._answers = os.fdopen(answers_r, "rb")
        try:
            # (The options travel through the pipe, never the command line: they may
            # hold keys.)
            self._stdin.write(_frame((inner.url, dict(inner.options))))
            self._stdin.flush()
            ready: Any = "no answer in time"
            if select.select([self._answers], [], [], START_TIMEOUT_S)[0]:
                ready = _receive(self._answers)
        except Exception as e:  # options that do not pickle, a broken pipe, garbage
            ready = e
        if ready != _READY:
            self._proc.kill()
            with contextlib.suppress(OSError):  # (a child that died: a broken pipe)
                self._stdin.close()
            self._answers.close()
            self._proc.wait()
            raise StoreUnavailableError(f"{self.url}: the store process did not start ({ready!r})")
        for target, name in ((self._read_answers, "answers"), (self._write_requests, "requests")):
            threading.Thread(target=target, name=f"tablelog-store-{name}", daemon=True).start()

    def __repr__(self) -> str:
        return f"ProcessStore({self.url!r}, pid {self._proc.pid})"

    def close(self) -> None:
        """Let the child finish what it was asked and exit; later calls run in this
        process (idempotent)."""
        if os.getpid() == self._pid and not self._closed:
            self._closed = True
            self._outbox.put(None)

    # ------------------------------------------------------------------ plumbing

    def _write_requests(self) -> None:
        while (item := self._outbox.get()) is not None:
            rid, frame = item
            self._sent.add(rid)  # (before the write: its answer may come at once)
            try:
                self._stdin.write(frame)
                self._stdin.flush()
            except (OSError, ValueError):  # the child is gone: its reader says so
                break
        with contextlib.suppress(OSError):
            self._stdin.close()

    def _read_answers(self) -> None:
        why = "it exited"
        while True:
            try:
                answer = _receive(self._answers)
            except Exception as e:  # (an answer that does not unpickle)
                answer, why = None, f"an answer could not be read: {e!r}"
            if answer is None:
                break
            rid, ok, value = answer
            self._sent.discard(rid)
            fut = self._pending.pop(rid, None)
            if fut is not None:
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
        self._gone = "closed" if self._closed and why == "it exited" else why
        self._answers.close()
        self._outbox.put(None)  # (the writer stops, if it has not)
        if why != "it exited":
            self._proc.kill()
        self._proc.wait()
        for rid in builtins.list(self._pending):
            fut = self._pending.pop(rid, None)
            if fut is not None:
                fut.set_exception(_Gone(rid in self._sent))

    def _here(self) -> Store:
        """The store for calls run in this process: a fork gets one of its own (the
        parent's s3fs client does not survive a fork)."""
        if os.getpid() == self._pid:
            return self._inner
        if self._forked is None:
            self._forked = FsspecStore(self._inner.url, self._inner.options)
        return self._forked

    def _call(self, name: str, *args: Any) -> Any:
        if self._closed or self._gone is not None or os.getpid() != self._pid:
            return _invoke(self._here(), name, args)
        at = deadline.current()
        left = None if at is None else at - time.monotonic()
        rid = next(self._ids)
        frame = _frame((rid, name, args, left))  # (may raise: nothing was sent)
        fut: Future[Any] = Future()
        self._pending[rid] = fut
        self._outbox.put((rid, frame))
        if self._gone is not None and self._pending.pop(rid, None) is not None:
            fut.set_exception(_Gone(rid in self._sent))  # (gone before the reader saw it)
        try:
            return fut.result()
        except _Gone as e:
            if e.sent and name in _NOT_AGAIN:
                raise StoreUnavailableError(
                    f"{self.url}: the store process (pid {self._proc.pid}) ended during "
                    f"{name} ({self._gone}); later calls run in this process"
                ) from None
            return _invoke(self._here(), name, args)

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


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The child: open the store it is sent, then run calls until ``requests`` ends."""
    lock = threading.Lock()

    def send(message: Any) -> None:
        frame = _frame(message)
        with lock:
            answers.write(frame)
            answers.flush()

    first = _receive(requests)
    if first is None:
        return
    url, options = first
    try:
        store = FsspecStore(url, options)
    except Exception as e:
        send(repr(e))
        return
    send(_READY)

    def run(rid: int, name: str, args: tuple[Any, ...], left: float | None) -> None:
        try:
            if left is None:
                answer = (rid, True, _invoke(store, name, args))
            else:
                with deadline.deadline(time.monotonic() + left):
                    answer = (rid, True, _invoke(store, name, args))
        except Exception as e:
            answer = (rid, False, e)
        except BaseException as e:  # (every request is answered: the caller waits)
            stop = StoreUnavailableError(f"{url}: {name} stopped in the store process: {e!r}")
            answer = (rid, False, stop)
        try:
            send(answer)
        except Exception as e:  # an answer that does not pickle: say what it was
            send((rid, False, StoreUnavailableError(f"{url}: {name}: {answer[2]!r} ({e!r})")))

    with ThreadPoolExecutor(_CHILD_THREADS, thread_name_prefix="tablelog-store") as pool:
        while (request := _receive(requests)) is not None:
            pool.submit(run, *request)


def main(answers_fd: int) -> None:
    """The child's entry point (``_BOOTSTRAP``)."""
    with os.fdopen(answers_fd, "wb") as answers:
        serve(sys.stdin.buffer, answers)
