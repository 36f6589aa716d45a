"""Terminal output: rich tables and progress bars when rich is installed, plain text else.

Tables are drawn with rich (``pip install 'tablelog[cli]'``) only when stdout is a
terminal, sized to its width; piped output stays plain text, one record per line, so
``grep`` and ``awk`` keep working (and ``--json`` is for scripts). Progress bars go to
stderr, only when stderr is a terminal and never with ``--json``; without rich they
are a one-line counter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from tablelog.progress import Progress

if TYPE_CHECKING:
    from rich.console import Console

_CELL_CHARS = 80
_MIN_CHARS = 8  # narrower than this, a column is dropped rather than shown as "x…"


def has_rich() -> bool:
    """Whether rich can be imported (the ``cli`` extra)."""
    try:
        return importlib.util.find_spec("rich") is not None
    except (ImportError, ValueError):  # sys.modules["rich"] = None, or a broken install
        return False


def _is_terminal(stream: IO[str]) -> bool:
    isatty: Callable[[], bool] | None = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def is_terminal() -> bool:
    """Whether stdout is a terminal on which tables are drawn with rich."""
    return _is_terminal(sys.stdout) and has_rich()


def console(stream: IO[str] | None = None) -> Console | None:
    """A rich console on ``stream`` (default stdout) when it is a terminal, else None."""
    stream = sys.stdout if stream is None else stream
    if not _is_terminal(stream) or not has_rich():
        return None
    from rich.console import Console

    return Console(file=stream)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    text = str(value).replace("\r", "\\r").replace("\n", "\\n")  # one line per row
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"


def _fit(heads: list[int], cells: list[int], room: int) -> list[int]:
    """Column widths that fit ``room`` characters: natural widths (capped), the widest
    shrunk first down to a few characters, then trailing columns dropped."""
    widths = [min(max(h, c, 1), _CELL_CHARS) for h, c in zip(heads, cells, strict=True)]
    floors = [min(w, _MIN_CHARS) for w in widths]
    overhead = 3  # padding on both sides and the gap between columns
    room = room - 1
    while widths and sum(widths) + overhead * len(widths) > room:
        shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
        if shrinkable:
            widths[max(shrinkable, key=widths.__getitem__)] -= 1
        else:
            widths.pop()
    return widths


def print_table(
    rows: Sequence[Sequence[Any]],
    headers: Sequence[str],
    *,
    plain: Callable[[], None],
    caption: str | None = None,
    types: Sequence[str] | None = None,
) -> None:
    """``rows`` as a rich table fitted to the terminal, or ``plain()`` when stdout is
    not a terminal or rich is missing."""
    out = console()
    if out is None:
        plain()
        return
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    labels = (
        list(headers)
        if types is None
        else [f"{h}\n{t}" for h, t in zip(headers, types, strict=True)]
    )
    cells = [[_cell(v) for v in row] for row in rows]
    widths = _fit(
        [max(len(line) for line in label.split("\n")) for label in labels],
        [max((len(r[i]) for r in cells), default=0) for i in range(len(labels))],
        out.width,
    )
    shown = len(widths)
    if shown < len(labels):
        more = f"{len(labels) - shown} more column(s) not shown: widen the terminal, or use --json"
        caption = f"{caption} · {more}" if caption else more
    table = Table(box=box.SIMPLE_HEAD, caption=caption, caption_justify="left")
    for i in range(shown):
        name, _, typ = labels[i].partition("\n")
        label = escape(name) + (f"\n[dim]{escape(typ)}[/]" if typ else "")
        table.add_column(label, overflow="ellipsis", no_wrap=True, width=widths[i])
    for row in cells:
        table.add_row(*(escape(c) for c in row[:shown]))
    out.print(table)


def _type_name(dtype: pl.DataType) -> str:
    """Polars' short type name (``i64``, ``datetime[μs, UTC]``), as its own tables show."""
    short = getattr(dtype, "_string_repr", None)
    try:
        return str(short()) if callable(short) else str(dtype)
    except Exception:  # a private Polars helper: fall back to the long name
        return str(dtype)


def print_frame(frame: pl.DataFrame, *, total_rows: int | None = None) -> None:
    """A DataFrame: rich table on a terminal, Polars' own text otherwise. Both end with
    its shape."""
    shape = f"shape: ({frame.height}, {frame.width})"
    if total_rows is not None and total_rows > frame.height:
        shape += f" · {frame.height} of {total_rows} rows (--head N or --all for more)"

    def plain() -> None:
        with pl.Config(tbl_rows=-1, tbl_cols=-1):
            print(frame)

    print_table(
        list(frame.iter_rows()),
        frame.columns,
        plain=plain,
        caption=shape,
        types=[_type_name(t) for t in frame.dtypes],
    )


class _Plain:
    """A one-line counter on stderr (rich missing)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.width = 0

    def __call__(self, task: str, done: int, total: int | None) -> None:
        text = f"{task}: {done}" + ("" if total is None else f"/{total}")
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def close(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


@contextlib.contextmanager
def progress(enabled: bool = True) -> Iterator[Progress | None]:
    """A progress callback drawing on stderr, or None when stderr is not a terminal or
    ``enabled`` is false (``--json``)."""
    stream = sys.stderr
    if not enabled or not _is_terminal(stream):
        yield None
        return
    if not has_rich():
        plain = _Plain(stream)
        try:
            yield plain
        finally:
            plain.close()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def report(task: str, done: int, total: int | None) -> None:
        found = tasks.get(task)
        if found is None:
            found = tasks[task] = bars.add_task(task, total=total)
        bars.update(found, completed=done, total=total)

    with bars:
        yield report


__all__ = ["console", "has_rich", "print_frame", "print_table", "progress"]
