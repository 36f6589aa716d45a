"""The offline spool: logs that could not reach the store wait on local disk, in order.

When a commit keeps failing because the store is unreachable, the run writes that log
and every later one to ``<spool>/<project>/<run_id>/<writer>/`` (Arrow IPC for the
rows, JSON for the rest) and carries on; the spool drains, in order, as soon as the
store answers again, or later with ``tablelog sync``. Each spooled log keeps the log id
its manifest records, so draining twice never commits a log twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from tablelog.errors import FormatError
from tablelog.format import paths
from tablelog.format.chain import TableRef, latest_version, write_format
from tablelog.format.manifest import MAX_COMMIT_INCREMENTS, Column, log_ids
from tablelog.format.media_cells import media_blob_names
from tablelog.format.runinfo import encode_run_info, parse_run_info
from tablelog.objects import deadline as store_deadline
from tablelog.objects.open import open_store
from tablelog.progress import Progress
from tablelog.writer.committer import KeyCommitter
from tablelog.writer.keylog import LogJob

try:  # POSIX: one pusher per spool folder at a time
    import fcntl
except ImportError:  # pragma: no cover - Windows: the log ids alone keep pushes idempotent
    fcntl = None  # type: ignore[assignment]

DEFAULT_SPOOL = Path("~/.cache/tablelog/spool")
#: An offline run's run.json, waiting in its writer folder for ``tablelog sync``.
RUN_INFO = "run.json"


def spool_root() -> Path:
    """``$TABLELOG_SPOOL``, else ``~/.cache/tablelog/spool``."""
    return Path(os.environ.get("TABLELOG_SPOOL") or DEFAULT_SPOOL).expanduser()


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One spooled log: the job, where it goes, and the committer state it followed."""

    seq: int
    root: str
    project: str
    run_id: str
    job: LogJob
    base: int
    ranges: tuple[tuple[str, int, int], ...]
    path: Path
    #: The table the job commits to: ``job.key``, or its shard's internal key.
    table_key: str = ""


def _write_table(path: Path, table: pa.Table) -> None:
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_table(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).read_all()


#: A MUTABLE range whose fragment is not committed yet: ``log:<log id>`` (docs/format.md
#: has nothing to say about it: it never leaves the spool).
PENDING = "log:"
#: Written by ``finish()`` while logs are still spooled: what ``sync`` writes to
#: ``run.json`` once the last of them is committed.
FINISH_FILE = "finish.json"
LOCK_FILE = ".lock"


class Spool:
    """The spool folder of one writer of one run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._next = max((e.seq for e in self.entries()), default=-1) + 1
        #: Per table: (whether a spooled replace starts it over, the row ranges of
        #: spooled MUTABLE logs that add rows, by log id).
        self._pending: dict[str, tuple[bool, list[tuple[str, int, int]]]] = {}

    @contextlib.contextmanager
    def claimed(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold the spool's lock (a ``sync``, or the run draining it): one pusher at a
        time, so no log is committed twice. Yields False when ``wait`` is off and
        another process holds it."""
        if fcntl is None or not self.folder.exists():
            yield True
            return
        with open(self.folder / LOCK_FILE, "a+b") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def finish(self, info: Mapping[str, Any]) -> None:
        """Record the run's end (``status``, ``last_step``) for ``sync`` to write."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / (FINISH_FILE + ".tmp")
        tmp.write_text(json.dumps(dict(info), sort_keys=True))
        os.replace(tmp, self.folder / FINISH_FILE)

    @property
    def pending(self) -> int:
        return sum(1 for _ in self.folder.glob("*.job.json")) if self.folder.exists() else 0

    def add(
        self,
        job: LogJob,
        *,
        root: str,
        project: str,
        run_id: str,
        base: int,
        ranges: list[tuple[str, int, int]],
        table_key: str | None = None,
    ) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        seq, self._next = self._next, self._next + 1
        table = table_key or job.key
        reset, pending = self._pending.get(table, (False, []))
        # The committer's ranges cover committed rows only: rows of MUTABLE logs still
        # in the spool are named by their log id, resolved when they are committed.
        ranges = [*([] if reset else ranges), *pending]
        if job.mode == "MUTABLE" and (job.writes_rows or job.replace):
            rows = job.rows.num_rows if job.rows is not None else 0
            mine = (f"{PENDING}{job.log_id}", job.first_row, job.first_row + rows)
            self._pending[table] = (True, [mine]) if job.replace else (reset, [*pending, mine])
        stem = self.folder / f"{seq:012d}"
        if job.rows is not None:
            _write_table(stem.with_suffix(".rows.arrow"), job.rows)
        if job.new_columns is not None:
            _write_table(stem.with_suffix(".cols.arrow"), job.new_columns)
        media = sorted(
            {n for t in (job.rows, job.new_columns) if t is not None for n in media_blob_names(t)}
        )
        if media:  # the blobs the cells refer to, one file each
            folder = stem.with_suffix(".media")
            folder.mkdir(exist_ok=True)
            for name in media:
                if name in job.blobs:
                    (folder / name).write_bytes(job.blobs[name])
        doc = {
            "root": root,  # a URL without credentials
            "project": project,
            "run_id": run_id,
            "key": job.key,
            "table_key": table_key or job.key,
            "mode": job.mode,
            "step": job.step,
            "separate": job.separate,
            "schema": [{"name": c.name, "kind": c.kind, "arrow": c.arrow} for c in job.schema],
            "replace": job.replace,
            "first_row": job.first_row,
            "log_id": job.log_id,
            "time": job.time,
            "source": list(job.source) if job.source else None,
            "rows": job.rows is not None,
            "new_columns": job.new_columns is not None,
            "base": base,
            "ranges": [list(r) for r in ranges],
            "media": media,
        }
        tmp = stem.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, sort_keys=True))
        os.replace(tmp, stem.with_suffix(".job.json"))  # the entry exists once complete

    def add_run_info(self, data: bytes, *, root: str) -> None:
        """An offline run's ``run.json`` (#17), written to the store by ``sync`` after
        the logs (``run.root`` beside it names the store)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "run.root").write_text(root, encoding="utf-8")
        tmp = self.folder / "run.json.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.folder / RUN_INFO)

    def entries(self) -> Iterator[Entry]:
        if not self.folder.exists():
            return
        for path in sorted(self.folder.glob("*.job.json")):
            try:
                doc = json.loads(path.read_text())
            except FileNotFoundError:
                continue  # pushed meanwhile by another process
            stem = path.with_name(path.name.removesuffix(".job.json"))
            try:
                job = self._job(doc, stem, path)
            except FileNotFoundError:
                if path.exists():
                    raise  # a damaged entry: its rows are missing, say so
                continue  # pushed meanwhile by another process (remove(): job.json first)
            yield Entry(
                seq=int(stem.name),
                root=doc["root"],
                project=doc["project"],
                run_id=doc["run_id"],
                job=job,
                base=int(doc["base"]),
                ranges=tuple((str(a), int(b), int(c)) for a, b, c in doc["ranges"]),
                table_key=doc.get("table_key") or doc["key"],
                path=path,
            )

    @staticmethod
    def _job(doc: dict[str, Any], stem: Path, path: Path) -> LogJob:
        """The log an entry holds (its rows read from the files beside ``path``)."""
        return LogJob(
            key=doc["key"],
            mode=doc["mode"],
            step=doc["step"],
            separate=doc["separate"],
            schema=tuple(Column(**c) for c in doc["schema"]),
            replace=doc["replace"],
            given=_read_table(stem.with_suffix(".rows.arrow")) if doc["rows"] else None,
            first_row=doc["first_row"],
            new_columns=(
                _read_table(stem.with_suffix(".cols.arrow")) if doc["new_columns"] else None
            ),
            log_id=doc["log_id"],
            # (spooled before logs had a time: when the entry was written)
            time=float(doc.get("time") or path.stat().st_mtime),
            source=(str(doc["source"][0]), int(doc["source"][1])) if doc.get("source") else None,
            blobs=_read_blobs(stem.with_suffix(".media"), doc.get("media", [])),
        )

    def remove(self, entry: Entry) -> None:
        reset, pending = self._pending.get(entry.table_key, (False, []))
        left = [r for r in pending if r[0] != f"{PENDING}{entry.job.log_id}"]
        if len(left) != len(pending) or entry.job.replace:
            # Committed: the committer's own ranges hold it now.
            self._pending[entry.table_key] = (reset and not entry.job.replace, left)
        stem = entry.path.with_name(entry.path.name.removesuffix(".job.json"))
        entry.path.unlink(missing_ok=True)  # first: a half-removed entry is gone
        for suffix in (".rows.arrow", ".cols.arrow"):
            stem.with_suffix(suffix).unlink(missing_ok=True)
        shutil.rmtree(stem.with_suffix(".media"), ignore_errors=True)


def _read_blobs(folder: Path, names: list[str]) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in names if (folder / n).exists()}


def spools(folder: Path) -> list[Spool]:
    """Every writer spool below ``folder`` (a spool root, or one run's folder)."""
    found = {p.parent for p in folder.rglob("*.job.json")}
    found |= {p.parent for p in folder.rglob(RUN_INFO)}
    found.update(p.parent for p in folder.rglob(FINISH_FILE))  # logs all in, run.json not
    return [Spool(f) for f in sorted(found)]


def push(
    spool: Spool,
    committer_for: Callable[[Entry], KeyCommitter],
    on_entry: Callable[[Entry], None] | None = None,
    *,
    wait: bool = True,
    each_s: float | None = None,
) -> tuple[int, int]:
    """Commit spooled logs in order; stop at the first that still cannot reach the store.
    Consecutive INCREMENTAL logs of a format-2 table share a version (up to 256 a
    commit), as the run's commit thread would have committed them had it been behind.

    Returns (committed, already there). A log whose id a version already carries (a
    previous push that lost its reply, or a second ``sync``) is not committed again;
    pushers of one spool take turns (its lock; without ``wait``, a pusher that finds
    it taken pushes nothing). ``on_entry`` is called after each entry leaves the spool.
    With ``each_s``, each entry's store calls are single requests and its retries end
    within that many seconds (``objects.deadline``).
    """
    committed = skipped = 0
    # INCREMENTAL logs of a format-2 table that no version carries yet wait here, per
    # table, and go out as one version (group commit, as the run's commit thread does),
    # MAX_COMMIT_INCREMENTS at most; a table's other logs go after its waiting ones.
    batches: dict[int, tuple[KeyCommitter, list[Entry]]] = {}

    def deadline() -> contextlib.AbstractContextManager[object]:
        if each_s is None:
            return contextlib.nullcontext()
        return store_deadline.deadline(time.monotonic() + each_s)

    def done(entry: Entry) -> None:
        spool.remove(entry)
        if on_entry is not None:
            on_entry(entry)

    def one(committer: KeyCommitter, entry: Entry) -> None:
        nonlocal committed, skipped
        with deadline():
            if committer.landed(entry.job, entry.base):
                skipped += 1
            elif committer.apply_once(entry.job, None, once=True):
                committed += 1
            else:  # another pusher committed it while this one was rebasing
                skipped += 1
        done(entry)

    def flush(committer: KeyCommitter) -> None:
        nonlocal committed
        _, taken = batches.pop(id(committer), (committer, []))
        if len(taken) > 1:
            with deadline():
                # (since the oldest base: the landed checks of the waiting logs read
                # the versions after it, and other logs' checks moved the committer on)
                since = min(e.base for e in taken)
                grouped = committer.push_group([e.job for e in taken], since)
            if grouped:
                committed += len(taken)
                for entry in taken:
                    done(entry)
                return
        for entry in taken:  # (one log, or a group that met another pusher's versions)
            one(committer, entry)

    with spool.claimed(wait=wait) as mine:
        if not mine:
            return 0, 0
        for entry in spool.entries():
            committer = committer_for(entry)
            waiting = batches.get(id(committer), (committer, []))[1]
            if not committer.groups(entry.job):
                flush(committer)
                one(committer, entry)
                continue
            with deadline():
                there = committer.landed(entry.job, entry.base)
            if there:
                skipped += 1
                done(entry)
                continue
            waiting.append(entry)
            batches[id(committer)] = (committer, waiting)
            if len(waiting) >= MAX_COMMIT_INCREMENTS:
                flush(committer)
        for committer, _ in list(batches.values()):
            flush(committer)
    return committed, skipped


def sync(
    folder: str | os.PathLike[str] | None = None,
    *,
    root: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Push every spooled log below ``folder`` (default the spool root) to its store.

    ``root`` overrides the store URL the spool recorded (for a renamed bucket, say);
    credentials come from ``storage_options`` or the AWS environment, as for ``init``.
    Returns (committed, already there). Running it twice commits nothing new.
    ``progress`` is called after each log (:mod:`tablelog.progress`).
    """

    base = Path(folder).expanduser() if folder is not None else spool_root()
    committed = skipped = 0
    found = spools(base)
    total, pushed = sum(s.pending for s in found), 0

    def pushed_one(_: Entry) -> None:
        nonlocal pushed
        pushed += 1
        if progress is not None:
            progress("sync logs", pushed, total)

    for spool in found:
        committers = _Committers(root, storage_options, spool.folder.name)
        done, there = push(spool, committers, pushed_one)
        committed, skipped = committed + done, skipped + there
        for committer in committers.found.values():  # (docs/format.md, "Latest-version hint")
            if done and committer.state.version >= 0:
                committer.ref.write_hint(committer.state.version)
        _push_run_info(spool, root, storage_options)
        finish_run(spool, root=root, storage_options=storage_options)
    return committed, skipped


def _push_run_info(
    spool: Spool, root: str | None, storage_options: Mapping[str, Any] | None
) -> None:
    """An offline run's run.json, once its logs are committed (see ``Spool.add_run_info``)."""
    path = spool.folder / RUN_INFO
    with spool.claimed():  # two syncs at once: one writes it, the other finds it gone
        if not path.exists() or spool.pending:
            return
        data = path.read_bytes()
        info = json.loads(data)
        url = root or (spool.folder / "run.root").read_text(encoding="utf-8")
        store = open_store(url, storage_options=storage_options)
        store.put(paths.run_json_key(info["project"], info["run_id"]), data)
        path.unlink()
        (spool.folder / "run.root").unlink(missing_ok=True)


def finish_run(
    spool: Spool, *, root: str | None = None, storage_options: Mapping[str, Any] | None = None
) -> bool:
    """Write ``run.json`` as ``finish()`` would have, for a run that ended with logs in
    ``spool`` (its ``finish.json``), once they are all committed. True if written."""
    marker = spool.folder / FINISH_FILE
    with spool.claimed():
        if spool.pending or not marker.exists():
            return False
        try:
            done = json.loads(marker.read_text())
        except FileNotFoundError:
            return False  # another sync wrote it
        store = open_store(root or done["root"], storage_options=storage_options)
        key = paths.run_json_key(done["project"], done["run_id"])
        info = parse_run_info(store.get(key), where=store.full_url(key))
        steps = [s for s in (info.last_step, done.get("last_step")) if s is not None]
        status = "failed" if "failed" in (info.status, done["status"]) else done["status"]
        info = dataclasses.replace(
            info, status=status, last_step=max(steps) if steps else None, updated=time.time()
        )
        store.put(key, encode_run_info(info))
        marker.unlink(missing_ok=True)
        return True


class _Committers:
    """One KeyCommitter per (store, project, run, key) met while pushing a spool."""

    def __init__(
        self, root: str | None, storage_options: Mapping[str, Any] | None, writer: str
    ) -> None:
        self.root, self.storage_options, self.writer = root, storage_options, writer
        self.found: dict[tuple[str, str, str, str], KeyCommitter] = {}

    def __call__(self, entry: Entry) -> KeyCommitter:

        where = (self.root or entry.root, entry.project, entry.run_id, entry.table_key)
        committer = self.found.get(where)
        if committer is None:
            store = open_store(where[0], storage_options=self.storage_options)
            ref = TableRef(store, entry.project, entry.run_id, entry.table_key)
            committer = KeyCommitter(
                ref=ref, writer=f"sync:{self.writer}", format_version=write_format()
            )
            committer.open()
            # This writer's fragments before this entry, those of logs an earlier push
            # committed named by their log id.
            committer.ranges = _resolve(committer, entry)
            self.found[where] = committer
        return committer


def _resolve(committer: KeyCommitter, entry: Entry) -> list[tuple[str, int, int]]:
    """``entry.ranges`` with each spooled log's range given its committed fragment."""
    wanted = {fid[len(PENDING) :] for fid, _, _ in entry.ranges if fid.startswith(PENDING)}
    found: dict[str, str] = {}
    if wanted:
        ref = committer.ref
        for version in range(entry.base + 1, latest_version(ref, hint=entry.base) + 1):
            manifest, _ = ref.read_manifest(version)
            ids = log_ids(manifest)  # (MUTABLE: one log a version in either format)
            if len(ids) == 1 and ids[0] in wanted and manifest.change.add:
                found[ids[0]] = manifest.change.add[-1].id
    out = []
    for fid, lo, hi in entry.ranges:
        if fid.startswith(PENDING):
            got = found.get(fid[len(PENDING) :])
            if got is None:
                raise FormatError(
                    f"spool {entry.path.parent}: log {fid[len(PENDING) :]} that "
                    f"{entry.path.name} adds columns to is not in {ref.path}; it was not "
                    "committed, so this log cannot be (its rows are in the spool's earlier files)"
                )
            fid = got
        out.append((fid, lo, hi))
    return out
