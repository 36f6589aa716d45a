"""``tablelog doctor``: does a root work for tablelog? A checklist, exit 1 on a failure.

Checks, in order (a check whose prerequisite failed is skipped):

1. reachable: the root can be opened and listed.
2. writable: a probe object can be created under ``_tablelog/probes/`` (create-if-absent).
3. create-if-absent: a second create of the same key is refused and leaves the first
   bytes in place (what makes concurrent commits safe).
4. read latency: median of 5 GETs of the probe.
5. readers: Polars (what ``scan``, ``show`` and ``export`` read with) reads a small
   Parquet probe back, with the endpoint and credentials it resolves itself: a reader
   that would go to another server than the writer fails here.

The probe is deleted afterwards when the credentials allow it (``gc`` removes leftovers
after its grace period). Nothing printed contains storage options or credentials:
URLs are printed without user info and known secret values are masked.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tablelog.cli.common import one_line, print_json
from tablelog.format import paths
from tablelog.objects.local import LocalStore
from tablelog.objects.open import open_store, resolve_root
from tablelog.objects.store import Store

PROBE_PREFIX = "_tablelog/probes"
READS = 5
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
_USERINFO = re.compile(r"(\w[\w+.-]*://)[^/@\s]+@")


def redact(text: str) -> str:
    """``text`` without URL user info or the values of credential variables."""
    text = _USERINFO.sub(r"\1***@", text)
    for name in _SECRET_ENV:
        value = os.environ.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "fail" or "skip"
    detail: str
    ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.status == "ok", "status": self.status,
                "detail": redact(self.detail), "ms": self.ms}  # fmt: skip


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _failed(name: str, e: BaseException, start: float) -> Check:
    return Check(name, "fail", f"{type(e).__name__}: {one_line(e)}", _ms(start))


def _reachable(store: Store) -> Check:
    start = time.perf_counter()
    if isinstance(store, LocalStore):
        root = Path(store.root)
        if root.exists() and not root.is_dir():
            return Check("reachable", "fail", f"{store.url} is not a folder", _ms(start))
        if not root.exists():
            return Check(
                "reachable", "ok", "folder does not exist yet (created on first write)", _ms(start)
            )
    try:
        if store.capabilities.ordered_listing:
            found = bool(store.list_page(paths.projects_prefix(), max_keys=1)[0])
        else:
            found = next(iter(store.list(paths.projects_prefix())), None) is not None
    except Exception as e:  # report every failure, never crash
        return _failed("reachable", e, start)
    what = "has projects" if found else "no projects yet"
    return Check("reachable", "ok", f"listed {paths.projects_prefix()} ({what})", _ms(start))


def _writable(store: Store, key: str) -> Check:
    start = time.perf_counter()
    try:
        created = store.put_if_absent(key, b"probe")
    except Exception as e:
        return _failed("writable", e, start)
    if not created:
        return Check("writable", "fail", f"{key} already existed: nothing written", _ms(start))
    return Check("writable", "ok", f"created {key}", _ms(start))


def _exclusive(store: Store, key: str) -> Check:
    start = time.perf_counter()
    try:
        again = store.put_if_absent(key, b"probe-again")
        kept = store.get(key) == b"probe"
    except Exception as e:
        return _failed("create-if-absent", e, start)
    if again or not kept:
        detail = (
            "a second create of the same key succeeded"
            if again
            else "the second create was refused but replaced the bytes"
        )
        return Check(
            "create-if-absent",
            "fail",
            f"{detail}: concurrent writers could overwrite each other's versions",
            _ms(start),
        )
    if not store.capabilities.conditional_create:
        return Check(
            "create-if-absent",
            "fail",
            "this protocol only checks then writes (not atomic): "
            "use single_writer=True, or S3 / MinIO / SeaweedFS / a local folder",
            _ms(start),
        )
    return Check("create-if-absent", "ok", "a second create was refused", _ms(start))


def _latency(store: Store, key: str) -> Check:
    times: list[float] = []
    for _ in range(READS):
        start = time.perf_counter()
        try:
            data = store.get(key)
        except Exception as e:
            return _failed("read latency", e, start)
        times.append(_ms(start))
        if data != b"probe":
            return Check("read latency", "fail", f"read back {len(data)} unexpected bytes")
    median = round(statistics.median(times), 3)
    return Check(
        "read latency",
        "ok",
        f"median {median:g} ms over {READS} GETs (min {min(times):g}, max {max(times):g})",
        median,
    )


def _readers(store: Store) -> Check:
    start = time.perf_counter()
    key = f"{PROBE_PREFIX}/{uuid.uuid4().hex}.parquet"
    try:
        import polars as pl

        buf = io.BytesIO()
        pl.DataFrame({"probe": [1]}).write_parquet(buf)
        store.put_if_absent(key, buf.getvalue())
        try:
            source = store.reader_source(key)
            options = store.reader_options()
            got = pl.read_parquet(
                io.BytesIO(source) if isinstance(source, bytes) else source,
                storage_options=dict(options) if options else None,
            )
        finally:
            with contextlib.suppress(Exception):
                store.delete(key)
    except Exception as e:
        return _failed("readers", e, start)
    if got["probe"].to_list() != [1]:
        return Check("readers", "fail", "Polars read back other rows than were written")
    return Check(
        "readers", "ok", "Polars read a Parquet probe back (same server as writes)", _ms(start)
    )


def diagnose(root: str | None) -> tuple[str, list[Check], dict[str, Any]]:
    """The root as printable text, the checklist, and what happened to the probe."""
    start = time.perf_counter()
    shown = redact(resolve_root(root))
    try:
        store = open_store(root)
    except Exception as e:
        failed = _failed("reachable", e, start)
        rest = [Check(n, "skip", "root cannot be opened") for n in _NAMES[1:]]
        return shown, [failed, *rest], {}
    shown = redact(store.url)
    made_root = isinstance(store, LocalStore) and not Path(store.root).exists()
    checks = [_reachable(store)]
    key = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
    if checks[0].status != "ok":
        return shown, checks + [Check(n, "skip", "root unreachable") for n in _NAMES[1:]], {}
    checks.append(_writable(store, key))
    if checks[-1].status != "ok":
        checks += [Check(n, "skip", "nothing was written") for n in _NAMES[2:]]
        return shown, checks, {}
    checks.append(_exclusive(store, key))
    checks.append(_latency(store, key))
    checks.append(_readers(store))
    try:
        store.delete(key)
        probe: dict[str, Any] = {"key": key, "deleted": True}
    except Exception as e:
        probe = {"key": key, "deleted": False, "error": redact(one_line(e))}
    if probe["deleted"] and isinstance(store, LocalStore):
        _remove_empty_folders(Path(store.root), made_root)
    return shown, checks, probe


def _remove_empty_folders(root: Path, made_root: bool) -> None:
    """Undo the folders the probe created (and the root, if the doctor created it)."""
    folders = [root / PROBE_PREFIX, root / PROBE_PREFIX.split("/")[0]]
    for folder in [*folders, root] if made_root else folders:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only ever removes an empty folder


_NAMES = ("reachable", "writable", "create-if-absent", "read latency", "readers")


def run(args: argparse.Namespace) -> int:
    root = args.target if args.target is not None else args.root
    shown, checks, probe = diagnose(root)
    ok = all(c.status == "ok" for c in checks)
    if args.json:
        print_json(
            {"root": shown, "ok": ok, "checks": [c.to_json() for c in checks], "probe": probe}
        )
    else:
        print(f"tablelog doctor: {shown}")
        for c in checks:
            ms = "" if c.ms is None or " ms " in c.detail else f" ({c.ms:g} ms)"
            print(f"[{c.status:>4}] {c.name:<16} {redact(c.detail)}{ms}")
        if probe and not probe["deleted"]:
            print(f"note: could not delete {probe['key']} ({probe['error']}); gc removes it later")
        failed = sum(c.status == "fail" for c in checks)
        print("all checks passed" if ok else f"{failed} check(s) failed")
    return 0 if ok else 1
