"""Helpers shared by the commands: one-line errors and JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

import polars as pl

from tablelog.errors import NotFoundError
from tablelog.objects.open import open_store, resolve_root
from tablelog.objects.store import Store


class UsageError(Exception):
    """A bad argument found after parsing: exit 2, like an argparse error."""


def one_line(error: BaseException | str) -> str:
    """An error message on one line (Polars appends its query plan after a blank line)."""
    text = str(error).split("\n\n", 1)[0]
    return " ".join(text.split()) or type(error).__name__


def existing_store(root: str | None) -> Store:
    """The store of ``root``, or NotFoundError when its folder or bucket does not exist:
    a typo in a root must not look like an empty, healthy store."""
    store = open_store(root)
    if not store.root_exists():
        where = "bucket" if "://" in store.url else "folder"
        given = resolve_root(root)
        raise NotFoundError(
            f"no such bucket/folder: the {where} of root {given!r} does not exist; check "
            "--root (or $TABLELOG_ROOT; the default is ./tablelog-data)"
            + (", and create the bucket first" if where == "bucket" else "")
        )
    return store


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False))


def json_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with binary columns as base64 text (Polars cannot write them as JSON)."""
    binary = [n for n, t in frame.schema.items() if isinstance(t, pl.Binary)]
    return frame.with_columns(pl.col(binary).bin.encode("base64")) if binary else frame


def print_records(frame: pl.DataFrame) -> None:
    """``frame`` as a JSON array of row objects (NaN as null, times as ISO 8601)."""
    sys.stdout.write(json_safe(frame).write_json())
    sys.stdout.write("\n")
