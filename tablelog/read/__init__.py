"""Read layer: any version of any table as a lazy Polars frame."""

from tablelog.read.scan import files, history, scan, scan_runs

__all__ = ["files", "history", "scan", "scan_runs"]
