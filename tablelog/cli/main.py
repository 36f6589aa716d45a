"""The tablelog command: look at tables without writing code.

Exit codes: 0 success, 1 a tablelog error (not found, corrupt, store down, a check
failed), 2 bad usage. Every error is one line on stderr: 'tablelog: error: ...'.
The root is --root, else $TABLELOG_ROOT, else ./tablelog-data; S3 settings come from
the usual AWS_* variables (AWS_ENDPOINT_URL for MinIO, SeaweedFS, LocalStack).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import NoReturn

import polars as pl

from tablelog.cli import browse, doctor, interop, maint
from tablelog.cli.common import UsageError, one_line
from tablelog.errors import TablelogError
from tablelog.read.export import export_format
from tablelog.version import __version__

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) pointing at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"tablelog: error: {one_line(message)} (see '{self.prog} --help')\n")


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def _positive(text: str) -> int:
    n = _count(text)
    if n == 0:
        raise argparse.ArgumentTypeError("must be > 0, got 0")
    return n


def _columns(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def _predicate(text: str) -> pl.Expr:
    try:
        expr = pl.sql_expr(text)
    except Exception as e:  # polars raises several SQL error types
        raise argparse.ArgumentTypeError(f"cannot parse {text!r}: {one_line(e)}") from None
    assert isinstance(expr, pl.Expr)
    return expr


def _export_target(text: str) -> str:
    try:
        export_format(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _sub(
    sub: argparse._SubParsersAction[_Parser],
    name: str,
    handler: Handler,
    summary: str,
    description: str = "",
    epilog: str = "",
) -> _Parser:
    p = sub.add_parser(
        name,
        help=summary,
        description=textwrap.fill(f"{summary[0].upper()}{summary[1:]}. {description}".strip(), 88),
        epilog=epilog or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # --root also after the command; SUPPRESS keeps the global value when absent.
    p.add_argument("--root", default=argparse.SUPPRESS, help="store URL or folder")
    p.set_defaults(handler=handler)
    return p


def _json_flag(p: argparse.ArgumentParser, what: str = "the result") -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON (for scripts)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="tablelog", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--root", help="store URL or folder (default $TABLELOG_ROOT, ./tablelog-data)")
    p.add_argument("--version", action="version", version=f"tablelog {__version__}")
    # Not required: a bare `tablelog` prints this help (main) instead of a usage error.
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    ls = _sub(
        sub,
        "ls",
        browse.ls,
        "list projects, the runs of a project, or a run's tables",
        "--json gives projects with run counts; runs with status, name, last step and "
        "table count (from run.json); tables with versions, rows, mode and last step.",
        "examples:\n  tablelog ls\n  tablelog ls my-project --json\n  tablelog ls -l p/RUN",
    )
    ls.add_argument("path", nargs="?", default="", help="'', PROJECT or PROJECT/RUN")
    ls.add_argument("-l", "--long", action="store_true", help="details, one line per entry")
    _json_flag(ls, "the listing")

    show = _sub(
        sub,
        "show",
        browse.show,
        "print the rows of a table version",
        "Filters apply before --head.",
        "examples:\n  tablelog show p/RUN/eval --version 3 --head 5\n"
        "  tablelog show p/RUN/eval --columns input,prediction "
        "--where 'label = 1 AND prediction > 0.5' --json",
    )
    show.add_argument("path", help="PROJECT/RUN/KEY")
    at = show.add_mutually_exclusive_group()
    at.add_argument("--version", type=int, help="version (negative counts from the latest)")
    at.add_argument("--step", type=int, help="the newest version logged at or before STEP")
    show.add_argument("--columns", type=_columns, metavar="A,B", help="only these columns")
    show.add_argument("--where", type=_predicate, metavar="EXPR", help="SQL predicate on rows")
    rows = show.add_mutually_exclusive_group()
    rows.add_argument("--head", type=_count, default=20, metavar="N", help="rows (default 20)")
    rows.add_argument("--all", action="store_true", help="every row")
    _json_flag(show, "the rows as JSON records (binary as base64)")

    hist = _sub(
        sub,
        "history",
        browse.history,
        "one line per version of a table (--increments: per log)",
        "A version is a commit; with --increments, one line per log of the table (an "
        "increment: its number, step, rows and the version that holds it). In format 1 "
        "they are the same, but for compactions.",
    )
    hist.add_argument("path", help="PROJECT/RUN/KEY")
    hist.add_argument("--increments", action="store_true", help="one line per log")
    _json_flag(hist, "the versions (or increments) as JSON records")

    dif = _sub(
        sub,
        "diff",
        browse.diff,
        "what changed in a table between two versions",
        "IMMUTABLE and MUTABLE tables compare rows by position (row i of A with row i "
        "of B) and count changed cells per column; INCREMENTAL tables report the "
        "increments (rows) added between A and B.",
        "examples:\n  tablelog diff p/RUN/eval 0 2\n  tablelog diff p/RUN/eval -2 -1 --json\n"
        "  tablelog diff p/RUN/eval --step-a 100   (a sharded table: every shard)",
    )
    dif.add_argument("path", help="PROJECT/RUN/KEY")
    dif.add_argument(
        "a", type=int, nargs="?", metavar="A", help="older version (negative: from the latest)"
    )
    dif.add_argument("b", type=int, nargs="?", metavar="B", help="newer version (default latest)")
    dif.add_argument("--step-a", type=int, help="older side: the version as of this step")
    dif.add_argument("--step-b", type=int, help="newer side: the version as of this step")
    _json_flag(dif, "the difference")

    exp = _sub(
        sub,
        "export",
        browse.export,
        "write a table version to a Parquet, CSV, JSON, NDJSON or HTML file",
        "The format follows the extension (.parquet, .csv, .json, .ndjson/.jsonl, "
        ".html); the file is streamed where possible and replaced atomically. CSV writes "
        "nested cells as JSON text and binary as base64. HTML is one self-contained page "
        "(no network): sortable columns, images as thumbnails, audio players, and a "
        "version (MUTABLE) or increment (INCREMENTAL) selector.",
        "examples:\n  tablelog export p/RUN/eval --to eval.parquet\n"
        "  tablelog export p/RUN/eval --to eval.csv --version 3\n"
        "  tablelog export p/RUN/eval --to eval.html --max-versions 5",
    )
    exp.add_argument("path", help="PROJECT/RUN/KEY")
    exp.add_argument("--to", required=True, type=_export_target, metavar="FILE", help="output")
    at = exp.add_mutually_exclusive_group()
    at.add_argument("--version", type=int, help="version (negative counts from the latest)")
    at.add_argument("--step", type=int, help="the newest version logged at or before STEP")
    exp.add_argument(
        "--max-rows", type=_count, metavar="N", help="HTML: rows per version (default 10000)"
    )
    exp.add_argument(
        "--max-versions",
        type=_positive,
        metavar="N",
        help="HTML: versions of a MUTABLE table on the page, up to the exported one (default 20)",
    )
    _json_flag(exp)

    doc = _sub(
        sub,
        "doctor",
        doctor.run,
        "check that a root works: reachable, writable, create-if-absent, latency",
        "Writes (and then deletes) one probe object under _tablelog/probes/. "
        "Exit 1 if any check fails. Never prints credentials.",
        "examples:\n  tablelog doctor s3://team-bucket/tables\n  tablelog doctor --json",
    )
    doc.add_argument("target", nargs="?", metavar="ROOT", help="root to check (default --root)")
    _json_flag(doc, "the checklist")

    ver = _sub(
        sub, "verify", maint.verify, "check every version of every table (exit 1 on problems)"
    )
    ver.add_argument("target", nargs="?", default="", help="'', PROJECT, PROJECT/RUN or P/R/KEY")
    ver.add_argument("--deep", action="store_true", help="also read and hash every object")
    _json_flag(ver, "the report")

    col = _sub(sub, "gc", maint.gc, "list (or --delete) objects no table version references")
    col.add_argument("--min-age-hours", type=float, default=24.0, help="grace period (default 24)")
    col.add_argument("--delete", action="store_true", help="delete (default: dry run)")
    col.add_argument(
        "--allow-short-grace",
        action="store_true",
        help="delete with --min-age-hours below 1 (only when nothing writes to the root)",
    )
    _json_flag(col, "the report")

    com = _sub(
        sub, "compact", maint.compact, "rewrite a table's latest version into few large objects"
    )
    com.add_argument("path", help="PROJECT/RUN/KEY")
    com.add_argument(
        "--target-rows", type=_positive, default=1_000_000, help="rows per object (default 1e6)"
    )
    _json_flag(com, "what was done")

    syn = _sub(
        sub,
        "sync",
        maint.sync,
        "commit the logs a run left in the offline spool",
        "A run that could not reach its store keeps its logs in a local spool "
        "(SPOOL_DIR, default $TABLELOG_SPOOL or ~/.cache/tablelog/spool) and tells you to "
        "run this. Each log goes to the root it was logged to (--root overrides it), in "
        "order; a log that already landed is not committed twice, so running sync again "
        "changes nothing. Exit 1 if the store still cannot be reached (what was committed "
        "stays committed).",
        "examples:\n  tablelog sync\n  tablelog sync ~/.cache/tablelog/spool/proj --json",
    )
    syn.add_argument("spool", nargs="?", metavar="SPOOL_DIR", help="a spool folder or a run's")
    _json_flag(syn, "what was committed")
    interop.add_commands(sub, _sub)
    _add_ui(sub)
    return p


def _add_ui(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``tablelog ui`` (tablelog/ui/; its server needs the ui extra, imported when run)."""
    from tablelog.ui.serve import add_command

    add_command(sub, _sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `tablelog`: the help, on stdout
        parser.print_help()
        return 0
    args.parser = parser
    handler: Handler = args.handler
    try:
        return handler(args)
    except UsageError as e:
        parser.exit(2, f"tablelog: error: {one_line(e)} (see 'tablelog {args.command} --help')\n")
    except BrokenPipeError:
        # The reader (head, less) went away: not an error of ours. Point stdout at
        # devnull so the interpreter's final flush does not complain again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (TablelogError, ValueError, OSError, pl.exceptions.PolarsError) as e:
        print(f"tablelog: error: {one_line(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
