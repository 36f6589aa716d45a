"""Progress of long operations (compact, gc, verify, sync, export), for the command line.

A function that takes ``progress=`` calls it as ``progress(task, done, total)``: ``task``
a short label (``"verify tables"``), ``done`` the units finished so far, ``total`` the
units expected (None when not known in advance). The library itself never prints;
``tablelog`` draws the calls as progress bars on a terminal.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, "int | None"], None]

__all__ = ["Progress"]
