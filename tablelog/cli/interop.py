"""Commands that hand tables to other formats: ``tablelog iceberg``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from tablelog.cli.common import one_line, print_json
from tablelog.interop.iceberg import to_iceberg

DESCRIPTION = (
    "Registers the version's Parquet objects in place (no data is copied) in a pyiceberg "
    "SQL catalog; Iceberg metadata goes to ROOT/_iceberg/NAMESPACE/TABLE unless --location "
    "is given. Exporting a newer version to the same identifier commits one new snapshot "
    "(an append of the new objects, or an overwrite after a re-log; a compacted "
    "INCREMENTAL table goes to a new identifier). Needs "
    "pip install 'tablelog[iceberg]'."
)
EPILOG = (
    "examples:\n"
    "  tablelog iceberg p/RUN/eval --catalog sqlite:////data/iceberg.db --identifier ml.eval\n"
    "  tablelog iceberg p/RUN/eval --catalog sqlite:////data/iceberg.db --identifier ml.eval "
    "--version 3 --json"
)


def iceberg(args: argparse.Namespace) -> int:
    try:
        done = to_iceberg(
            args.path,
            root=args.root,
            catalog=args.catalog,
            identifier=args.identifier,
            version=args.version,
            location=args.location,
        )
    except ImportError as e:  # the optional extra is missing
        print(f"tablelog: error: {one_line(e)}", file=sys.stderr)
        return 1
    if args.json:
        print_json(done.to_json())
    elif done.operation == "none":
        print(f"{done.identifier} already holds {done.path} version {done.version}")
    else:
        print(
            f"{done.operation}: {done.identifier} now holds {done.path} version {done.version} "
            f"({done.rows} row(s) in {done.data_files} file(s); +{done.added_files} "
            f"-{done.removed_files} file(s), snapshot {done.snapshot_id})"
        )
    return 0


def add_commands(sub: Any, make: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the commands; ``make`` is main's subcommand factory."""
    p = make(
        sub, "iceberg", iceberg, "export a table version to Apache Iceberg", DESCRIPTION, EPILOG
    )
    p.add_argument("path", help="PROJECT/RUN/KEY")
    p.add_argument(
        "--catalog", required=True, metavar="URL", help="SQLAlchemy URL of the SQL catalog"
    )
    p.add_argument("--identifier", required=True, metavar="NS.TABLE", help="Iceberg table")
    p.add_argument("--version", type=int, help="version (negative counts from the latest)")
    p.add_argument("--location", metavar="URL", help="where Iceberg metadata is written")
    p.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")
