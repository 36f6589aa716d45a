"""Writer, the run layer of DESIGN.md: init / log / finish / resume / define_metric.

(`tablelog.run` is the current run, as `wandb.run` is.)
"""

from tablelog.writer.run import Run
from tablelog.writer.start import init

__all__ = ["Run", "init"]
