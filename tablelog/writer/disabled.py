"""``init(mode="disabled")``: a run that writes nothing and whose every call is a no-op."""

from __future__ import annotations

import secrets
import string
import types
from collections.abc import Mapping
from typing import Any

from tablelog.writer.config import Config, Summary


class DisabledRun:
    """What ``tablelog.init(mode="disabled")`` returns (W&B's ``RunDisabled``).

    It has a run's attributes and methods; ``log``, ``define_metric``, ``flush`` and
    ``finish`` do nothing, and nothing touches a store, the spool or the disk.
    ``config`` and ``summary`` work in memory, so scripts that read them back run.
    """

    disabled = True
    offline = False
    resumed = False
    shard = None
    root = ""

    def __init__(
        self,
        *,
        project: str | None,
        id: str | None,
        name: str | None,
        config: Mapping[str, Any] | None,
        tags: tuple[str, ...] = (),
        notes: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
    ) -> None:
        chars = string.ascii_lowercase + string.digits
        self.project = project or "uncategorized"
        self.id = id or "".join(secrets.choice(chars) for _ in range(8))
        self.name = name
        self.tags, self.notes, self.group, self.job_type = tags, notes, group, job_type
        self.config = Config(dict(config or {}), allow_val_change=True)
        self.summary = Summary()
        self.step = 0
        self._finished = False
        self._on_finish: Any = None

    @property
    def path(self) -> str:
        return f"{self.project}/{self.id}"

    def log(self, data: Any, step: int | None = None, commit: bool | None = None) -> None:
        del data, step, commit

    def define_metric(self, name: str, *args: Any, **kwargs: Any) -> None:
        del name, args, kwargs

    def flush(self) -> None:
        pass

    def finish(self, exit_code: int | None = None) -> None:
        del exit_code
        if not self._finished:
            self._finished = True
            if self._on_finish is not None:
                self._on_finish(self)

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.finish()

    def __repr__(self) -> str:
        return f"DisabledRun({self.path!r})"
