"""W&B's module-level API: ``tablelog.init`` makes its run current, and ``tablelog.run``,
``log``, ``finish``, ``define_metric``, ``config`` and ``summary`` act on it.

Before ``init`` (and after ``finish``) ``tablelog.run`` is ``None``; ``log`` and
``define_metric`` raise, and so does any use of ``tablelog.config`` or
``tablelog.summary``, with W&B's message ("You must call tablelog.init() before
tablelog.log()"); ``finish()`` does nothing.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from tablelog.errors import TablelogError
from tablelog.writer import start
from tablelog.writer.disabled import DisabledRun
from tablelog.writer.run import Run


class PreInitError(TablelogError):
    """A module-level call that needs a run came before ``tablelog.init()``."""


class PreInit:
    """Stands in for ``tablelog.config`` / ``tablelog.summary`` while no run is current."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def _error(self, what: str) -> PreInitError:
        return PreInitError(f"You must call tablelog.init() before {self._name}{what}")

    def __getitem__(self, key: str) -> Any:
        raise self._error(f'["{key}"]')

    def __setitem__(self, key: str, value: Any) -> None:
        raise self._error(f'["{key}"]')

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        raise self._error(f".{key}")

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            raise self._error(f".{key}")

    def __repr__(self) -> str:
        return f"<{self._name}: call tablelog.init() first>"


def _package() -> Any:
    return sys.modules["tablelog"]


def _current() -> Run | DisabledRun | None:
    run: Run | DisabledRun | None = getattr(_package(), "run", None)
    return run if isinstance(run, Run | DisabledRun) else None


def _set_current(run: Run | DisabledRun | None) -> None:
    pkg = _package()
    pkg.run = run
    pkg.config = run.config if run is not None else PreInit("tablelog.config")
    pkg.summary = run.summary if run is not None else PreInit("tablelog.summary")


def _forget(run: Run | DisabledRun) -> None:
    if _current() is run:
        _set_current(None)


class Settings:
    """W&B's ``wandb.Settings``: keyword arguments kept as attributes; ``init`` honours
    ``mode`` and ``reinit`` from it and ignores the rest (they steer W&B's service)."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return f"Settings({self.__dict__!r})"


def login(*args: Any, **kwargs: Any) -> bool:
    """W&B's ``wandb.login``: nothing to log in to (the store's credentials come from
    ``storage_options`` or the AWS environment); returns True."""
    del args, kwargs
    return True


def _from_settings(kwargs: dict[str, Any]) -> None:
    settings = kwargs.get("settings")
    if settings is None:
        return
    for name in ("mode", "reinit"):
        value = settings.get(name) if isinstance(settings, dict) else getattr(settings, name, None)
        if kwargs.get(name) is None and value is not None:
            kwargs[name] = value


REINIT = (None, False, True, "default", "return_previous", "finish_previous", "create_new")


@functools.wraps(start.init)
def init(*args: Any, **kwargs: Any) -> Run | DisabledRun:
    _from_settings(kwargs)
    reinit = kwargs.get("reinit")
    if reinit not in REINIT:
        raise TablelogError(f"reinit must be one of {REINIT}, got {reinit!r}")
    previous = _current()
    if previous is not None and reinit == "return_previous":
        return previous
    if previous is not None and reinit in (True, "finish_previous"):
        previous.finish()
    run = start.init(*args, **kwargs)
    run._on_finish = _forget
    if reinit != "create_new" or previous is None:
        _set_current(run)
    return run


def _needs_run(name: str) -> Run | DisabledRun:
    run = _current()
    if run is None:
        raise PreInitError(f"You must call tablelog.init() before tablelog.{name}()")
    return run


def log(data: Any, step: int | None = None, commit: bool | None = None) -> None:
    """``run.log`` of the current run (:func:`tablelog.init`)."""
    _needs_run("log").log(data, step=step, commit=commit)


def define_metric(name: str, *args: Any, **kwargs: Any) -> None:
    """``run.define_metric`` of the current run."""
    _needs_run("define_metric").define_metric(name, *args, **kwargs)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run, if any (then ``tablelog.run`` is ``None``)."""
    del quiet
    run = _current()
    if run is not None:
        run.finish(exit_code=exit_code)
        _forget(run)
