"""Run layer: init / log / finish / resume / define_metric."""

from tablelog.run.run import Run, init

__all__ = ["Run", "init"]
