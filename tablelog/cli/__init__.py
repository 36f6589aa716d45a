"""The ``tablelog`` command line (``tablelog.cli:main``; ``python -m tablelog.cli``)."""

from tablelog.cli.main import main

__all__ = ["main"]
