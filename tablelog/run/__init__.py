"""Run layer: init / log / finish / resume / define_metric."""

from tablelog.run.run import Run
from tablelog.run.start import init

__all__ = ["Run", "init"]
