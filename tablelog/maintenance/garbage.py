"""``gc``: delete objects that no version of any table references, after a grace period.

See docs/format.md, "Garbage and the grace period", for why both conditions are
needed and for the window that remains.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tablelog.errors import (
    ArgumentTypeError,
    FormatError,
    InvalidArgumentError,
    NotFoundError,
    NotSupportedError,
    TablelogError,
)
from tablelog.format import paths
from tablelog.format.manifest import ColumnGroup, parse_manifest, parse_segment
from tablelog.maintenance.check import BATCH, WORKERS, Problem, Root, list_keys
from tablelog.objects.cas import check_digest, digest_in_key, get_present
from tablelog.objects.open import open_store
from tablelog.objects.store import Store
from tablelog.progress import Progress

DEFAULT_MIN_AGE = dt.timedelta(hours=24)
#: The shortest grace period gc deletes with unless told ``allow_short_grace=True``:
#: well above the longest commit (its 300 s budget, a run's ``retry_for``, an upload
#: of large groups), as delta-rs' vacuum refuses a retention below the table's.
MIN_GRACE = dt.timedelta(hours=1)
#: Key prefixes whose unreferenced keys are garbage. Everything else is left alone.
GARBAGE_PREFIXES = ("objects/", "media/", "_tablelog/probes/")
#: Folders searched for temporary files a crashed writer left (a local store's).
_TEMP_DIRS = ("objects", "media", "_tablelog", "projects")


@dataclass(frozen=True, kw_only=True)
class Garbage:
    """An unreferenced key old enough to delete."""

    key: str
    url: str
    size: int | None  # None when the backend cannot tell cheaply
    mtime: float


@dataclass(frozen=True, kw_only=True)
class GcReport:
    """What :func:`gc` found and (unless ``dry_run``) deleted.

    ``garbage`` lists the unreferenced keys older than the grace period (deleted
    unless ``dry_run``); ``young`` counts unreferenced keys kept because they are
    younger; ``spared`` counts garbage kept because a manifest that appeared while gc
    ran references it. ``lost`` lists deleted objects that a manifest created during
    the deletion references anyway (the remaining race, see docs/format.md): those
    table versions need their data logged again.
    """

    root: str
    dry_run: bool
    min_age_s: float
    tables: int
    versions: int
    referenced: int
    garbage: tuple[Garbage, ...]
    deleted: int
    bytes: int
    young: int
    spared: int
    lost: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.lost

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["ok"] = self.ok
        return out


def _manifest_key(key: str) -> bool:
    parts = key.split("/")
    return (
        len(parts) == 8
        and parts[0] == "projects"
        and parts[2] == "runs"
        and parts[4] == "tables"
        and parts[6] == "versions"
        and paths.parse_version_name(parts[7]) is not None
    )


class _Mark:
    """The objects every manifest references, kept up to date by re-scanning.

    Manifests are immutable, so a re-scan reads only manifests it has not seen.
    """

    def __init__(self, store: Store, progress: Progress | None = None) -> None:
        self.store = store
        self.progress = progress
        self.seen: set[str] = set()
        self.tables: set[str] = set()
        #: object key -> (table manifest URL, version) of its first reference
        self.referenced: dict[str, tuple[str, int]] = {}
        self._segments: set[str] = set()

    def _add(self, key: str, where: tuple[str, int]) -> None:
        self.referenced.setdefault(key, where)

    def _add_group(self, group: ColumnGroup, where: tuple[str, int]) -> None:
        """A column group's object and the media blobs its cells refer to."""
        self._add(paths.object_key(group.object), where)
        for name in group.media:
            self._add(paths.media_blob_key(name), where)

    def scan(self) -> None:
        """Mark what the manifests not seen yet (and their new segments) reference.

        Raises ``FormatError`` if one cannot be read: gc cannot know what it references.
        """
        store = self.store
        keys = sorted(k for k in store.list(paths.projects_prefix()) if _manifest_key(k))
        keys = [k for k in keys if k not in self.seen]
        segments: dict[str, tuple[str, int]] = {}
        for n, (key, data) in enumerate(get_present(store, keys, batch=BATCH), 1):
            if self.progress is not None:
                self.progress("read manifests", n, len(keys))
            url = store.full_url(key)
            if data is None:
                raise FormatError(f"manifest {url} disappeared while gc read it")
            try:
                m = parse_manifest(data, where=url)
            except FormatError as e:
                raise FormatError(
                    f"{e} — gc cannot tell what this version references, so it deletes "
                    "nothing; run `tablelog verify`"
                ) from e
            self.seen.add(key)
            self.tables.add(key.rsplit("/", 2)[0])
            where = (url, m.version)
            for f in m.change.add:
                for g in f.groups:
                    self._add_group(g, where)
            for _fid, g in m.change.add_groups:
                self._add_group(g, where)
            for s in m.checkpoint or ():
                seg = paths.object_key(s.object, "json.gz")
                self._add(seg, where)
                if seg not in self._segments:
                    segments.setdefault(seg, where)
        # Segments list the same groups as the changes; marking them too means a
        # damaged chain can never make gc delete what a checkpoint still lists.
        for key, data in get_present(store, sorted(segments), batch=BATCH):
            url = store.full_url(key)
            if data is None:
                raise FormatError(
                    f"checkpoint segment {url} is missing; gc deletes nothing until the "
                    "root verifies (`tablelog verify`)"
                )
            check_digest(
                data,
                digest_in_key(key),
                what=f"checkpoint segment {url}",
                advice="run `tablelog verify`",
            )
            frags = parse_segment(data, where=url)
            self._segments.add(key)
            for f in frags:
                for g in f.groups:
                    self._add_group(g, segments[key])


def _stat(store: Store, key: str) -> tuple[float, int | None] | None:
    """(mtime, size) of ``key``, None when it is gone."""
    try:
        return store.stat(key)
    except NotFoundError:
        return None


def gc(
    root: Root = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
    min_age: dt.timedelta = DEFAULT_MIN_AGE,
    dry_run: bool = True,
    allow_short_grace: bool = False,
    progress: Progress | None = None,
) -> GcReport:
    """Find (and with ``dry_run=False`` delete) objects no table version references.

    A key under ``objects/``, ``media/`` or ``_tablelog/probes/`` (and a local store's
    abandoned ``.tmp-*`` files) is garbage when no manifest of any version of any
    table in the root references it — directly or through a checkpoint segment — and
    it is older than ``min_age`` by the store's modification time. Writers upload
    objects before the manifest naming them, so ``min_age`` must exceed the longest
    commit (the default 24 h is generous); ``min_age=0`` is only safe when nothing
    writes to the root. Deleting with a ``min_age`` below :data:`MIN_GRACE` (1 h) is
    refused with an ``InvalidArgumentError`` unless ``allow_short_grace=True`` says
    the caller knows nothing writes to the root meanwhile; a dry run is never refused.

    Before deleting, gc reads the manifests created since it started and spares what
    they reference; after deleting it reads them once more and reports any deleted
    object a new manifest references in :attr:`GcReport.lost`.

    Raises ``FormatError`` (deleting nothing) when a manifest or checkpoint segment
    cannot be read, since gc cannot tell what it references. ``progress`` is called as
    manifests are read and objects checked and deleted (:mod:`tablelog.progress`).
    """
    if not isinstance(min_age, dt.timedelta):
        raise ArgumentTypeError(
            f"min_age must be a datetime.timedelta, got {type(min_age).__name__}"
        )
    min_age_s = min_age.total_seconds()
    if min_age_s < 0:
        raise InvalidArgumentError(f"min_age must not be negative, got {min_age}")
    if not dry_run and min_age < MIN_GRACE and not allow_short_grace:
        raise InvalidArgumentError(
            f"gc refuses to delete with a grace period of {min_age} (min_age), below its "
            f"minimum of {MIN_GRACE}: a writer uploads objects before the manifest that "
            "names them, so a commit in progress would lose its data. Pass "
            "allow_short_grace=True (tablelog gc --allow-short-grace) only if nothing "
            "writes to this root now, or run a dry run (dry_run=True) to see the list"
        )
    store = open_store(root, storage_options=storage_options)
    if not store.capabilities.mtime:
        raise NotSupportedError(
            f"{store.url} gives no modification times, so gc cannot tell an old object "
            "from one a commit in progress just uploaded; it deletes nothing"
        )
    mark = _Mark(store, progress)
    mark.scan()
    # Listed after the mark: an object a marked manifest names was created before it.
    keys = list_keys(store, GARBAGE_PREFIXES)
    keys.update(store.temp_keys(_TEMP_DIRS))
    unreferenced = sorted(keys - mark.referenced.keys())
    now = time.time()
    stats: list[tuple[float, int | None] | None] = []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for st in pool.map(lambda k: _stat(store, k), unreferenced):
            stats.append(st)
            if progress is not None:
                progress("check unreferenced", len(stats), len(unreferenced))
    garbage: list[Garbage] = []
    young = 0
    for key, st in zip(unreferenced, stats, strict=True):
        if st is None:
            continue  # deleted by someone else meanwhile
        mtime, size = st
        if min_age_s > 0 and now - mtime < min_age_s:
            young += 1
            continue
        garbage.append(Garbage(key=key, url=store.full_url(key), size=size, mtime=mtime))
    spared = 0
    lost: list[Problem] = []
    if not dry_run and garbage:
        # A commit may have found an old unreferenced object already present (a no-op
        # create does not refresh its mtime) and landed a manifest naming it since the mark.
        mark.scan()
        kept = [g for g in garbage if g.key not in mark.referenced]
        spared = len(garbage) - len(kept)
        garbage = kept
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for n, _ in enumerate(pool.map(lambda g: store.delete(g.key), garbage), 1):
                if progress is not None:
                    progress("delete", n, len(garbage))
        try:
            mark.scan()
        except TablelogError as e:
            lost.append(Problem(location=store.url, message=f"could not re-check after gc: {e}"))
        for g in garbage:
            found = mark.referenced.get(g.key)
            if found is not None:
                url, version = found
                lost.append(
                    Problem(
                        location=g.url,
                        message=(
                            f"deleted, but {url} (created while gc ran) references it: "
                            "log that table version's data again"
                        ),
                        version=version,
                        references=1,
                    )
                )
    return GcReport(
        root=store.url,
        dry_run=dry_run,
        min_age_s=min_age_s,
        tables=len(mark.tables),
        versions=len(mark.seen),
        referenced=len(mark.referenced),
        garbage=tuple(garbage),
        deleted=0 if dry_run else len(garbage),
        bytes=sum(g.size or 0 for g in garbage),
        young=young,
        spared=spared,
        lost=tuple(lost),
    )
