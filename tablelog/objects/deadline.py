"""One retry budget: a deadline owned by the caller, passed down to the store.

Network stores do not retry on clocks of their own under a writer: botocore and s3fs
are configured for one attempt per request (``fsspec_store``), and

* inside ``with deadline(t):`` (the run's committer, the spool's drain, ``run.log``'s
  own reads) every store operation is one request, and the caller's loop is the only
  one that retries: after a failure it tries again only before ``t``. A store that
  keeps failing is given up on by ``t`` plus one request timeout; one that is slow
  but answers is never cut off (the deadline bounds retrying, not work);
* outside any deadline (readers, maintenance, the command line) an idempotent
  operation is retried a few times with a short backoff (``READ_ATTEMPTS``).

A context variable carries the deadline, so it follows the calling thread (and
the functions it hands to other threads through ``carried``).
"""

from __future__ import annotations

import contextvars
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tablelog.errors import StoreUnavailableError

#: Jitter of retrying()'s backoff; its own generator, so a user's random.seed() is not
#: consumed or shifted by ours.
_JITTER = random.Random()

R = TypeVar("R")

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "tablelog_store_deadline", default=None
)


@contextmanager
def deadline(at: float) -> Iterator[float]:
    """Store operations in this block are single requests; the caller retries failures
    until ``at`` (``time.monotonic()``). An enclosing earlier deadline still applies."""
    outer = _DEADLINE.get()
    at = at if outer is None else min(at, outer)
    token = _DEADLINE.set(at)
    try:
        yield at
    finally:
        _DEADLINE.reset(token)


def current() -> float | None:
    """The deadline in force, or None."""
    return _DEADLINE.get()


def passed() -> bool:
    """Whether a deadline is in force and has passed (then no retry may start)."""
    at = _DEADLINE.get()
    return at is not None and time.monotonic() >= at


def carried(fn: Callable[..., R]) -> Callable[..., R]:
    """``fn``, to run on other threads (any number at once) under the caller's deadline."""
    at = _DEADLINE.get()
    if at is None:
        return fn

    def run(*args: object) -> R:
        with deadline(at):
            return fn(*args)

    return run


def retrying(fn: Callable[[], R]) -> R:
    """``fn()`` (idempotent, one request per store call under a deadline), tried again
    with jittered backoff while it fails with a transient store error
    (``StoreUnavailableError``: 5xx, throttling, resets, timeouts) and the deadline in
    force has not passed; the last error is raised after it. A caller's loop for a
    single write that is not a commit (run.json at ``finish()``)."""
    delay = 0.2
    while True:
        try:
            return fn()
        except StoreUnavailableError:
            at = _DEADLINE.get()
            pause = delay * _JITTER.uniform(0.5, 1.0)
            if at is None or time.monotonic() + pause >= at:
                raise
        time.sleep(pause)
        delay = min(delay * 2, 5.0)
