"""Table layer: W&B-style tables in memory (pure, no I/O)."""

from tablelog.table.table import LOG_MODES, Table

__all__ = ["LOG_MODES", "Table"]
