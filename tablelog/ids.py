"""Random names (log ids, temp files) that cost no system call and no GIL hand-off.

``uuid4`` reads ``os.urandom`` for every id, and that call releases the GIL: on a
training loop's thread it can hand the GIL to the commit thread and wait for it back.
A private generator, seeded from ``os.urandom`` at import and again in every forked
child, keeps ids unpredictable across processes, and leaves the user's seeded
``random`` stream alone (``random.seed(42)`` in two writers gives them different ids).
"""

from __future__ import annotations

import os
import random

_RNG = random.Random()
os.register_at_fork(after_in_child=_RNG.seed)


def random_hex(bits: int = 128) -> str:
    """``bits`` random bits as lowercase hex (``bits // 4`` digits)."""
    return f"{_RNG.getrandbits(bits):0{bits // 4}x}"
