"""How big the tests marked ``slow`` run: cheap in ``make test``, full in CI.

``make test`` runs every test, the ``slow`` ones at a reduced size (fewer trials, rows
or versions) so that the suite stays under ~12 minutes on 2 cores. ``.ci/run`` then runs
``pytest -m slow`` again with ``TABLELOG_FULL_SCALE=1``: the same tests at the sizes they
were written with. A plain module (read at import: the autouse fixture clears
``TABLELOG_*`` for each test).
"""

from __future__ import annotations

import os

FULL = os.environ.get("TABLELOG_FULL_SCALE") == "1"


def pick(cheap: int, full: int) -> int:
    """``full`` under TABLELOG_FULL_SCALE=1 (CI's second pass), else ``cheap``."""
    return full if FULL else cheap
