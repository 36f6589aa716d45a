"""Maintenance of a root: ``verify`` (an fsck), ``gc`` (delete unreferenced objects) and
``compact`` (rewrite many small fragments into few large objects)."""

from tablelog.maintenance.check import Problem, Report, verify
from tablelog.maintenance.compact import CompactResult, compact
from tablelog.maintenance.garbage import Garbage, GcReport, gc

__all__ = [
    "CompactResult",
    "Garbage",
    "GcReport",
    "Problem",
    "Report",
    "compact",
    "gc",
    "verify",
]
