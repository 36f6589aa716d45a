"""Reading manifest chains from a store: find the latest version, load any version."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Mapping

from tablelog.caches import LRU, NEWEST_TABLES, STATE_FRAGMENTS
from tablelog.errors import (
    FormatError,
    InvalidArgumentError,
    NotFoundError,
    NotSupportedError,
    StoreError,
)
from tablelog.format import paths
from tablelog.format.hint import MAX_COPY_BYTES, Hint, read_hint, write_hint
from tablelog.format.manifest import (
    FORMAT_VERSION,
    INCREMENT_COLUMN,
    Fragment,
    Manifest,
    parse_manifest,
    parse_segment,
)
from tablelog.format.state import (
    CHECKPOINT_EVERY,
    TableState,
    apply_manifest,
    count_before,
    max_step_of,
    state_from_checkpoint,
)
from tablelog.objects.cas import digest_of, get_verified
from tablelog.objects.store import Store

log = logging.getLogger("tablelog")


#: Manifests kept from checking a hint (``TableRef.keep_manifest``) are taken for this
#: long (seconds).
_KEPT_FOR_S = 10.0


#: Set to "1", new tables are written in format 1, which readers older than format 2
#: can read (docs/format.md, "Versioning"); any other value is refused. Unset, new
#: tables are written in :data:`FORMAT_VERSION`. Existing tables keep their format.
WRITE_FORMAT_VARIABLE = "TABLELOG_WRITE_FORMAT"


def write_format() -> int:
    """The format new tables are written in: 1 where ``$TABLELOG_WRITE_FORMAT`` is
    ``1``, else :data:`FORMAT_VERSION`."""
    v = os.environ.get(WRITE_FORMAT_VARIABLE)
    if v is None or v == "" or v == str(FORMAT_VERSION):
        return FORMAT_VERSION
    if v == "1":
        return 1
    raise InvalidArgumentError(f"${WRITE_FORMAT_VARIABLE} is 1 or {FORMAT_VERSION}, got {v!r}")


class TableRef:
    """Where one table's versions live: ``project/run_id/key`` in a store."""

    def __init__(self, store: Store, project: str, run_id: str, key: str) -> None:
        self.store = store
        self.project = project
        self.run_id = run_id
        self.key = key
        # Encoded once: opening a version probes several manifest names.
        self._versions = paths.versions_prefix(project, run_id, key)
        self.hint_key = paths.latest_hint_key(project, run_id, key)
        #: Manifest bytes fetched while checking the hint (version, bytes, when), for
        #: the read of that version that usually follows on this same ref. Kept on
        #: the ref, never in a process-wide cache: a table deleted and written again
        #: under the same name must never be read from an earlier fetch.
        self._kept: dict[int, tuple[bytes, float]] = {}
        #: The two newest manifests this ref wrote or read (version → bytes, each at
        #: most ``MAX_COPY_BYTES``), copied into the hints it writes. Replaced, never
        #: changed in place: the commit thread and the caller may both use the ref.
        self._recent: Mapping[int, bytes] = {}

    @property
    def path(self) -> str:
        return f"{self.project}/{self.run_id}/{self.key}"

    @property
    def versions_prefix(self) -> str:
        return self._versions

    def version_key(self, version: int) -> str:
        return paths.version_key_in(self._versions, version)

    def version_url(self, version: int) -> str:
        return self.store.full_url(self.version_key(version))

    def has_version(self, version: int) -> bool:
        return self.store.exists(self.version_key(version))

    def keep_manifest(self, version: int, data: bytes) -> None:
        """Keep manifest ``version``'s bytes, just fetched, for the next read of it."""
        self._kept[version] = (data, time.monotonic())

    def take_manifest(self, version: int) -> bytes | None:
        """The bytes :meth:`keep_manifest` kept for ``version`` (then forgotten), if
        fetched in the last :data:`_KEPT_FOR_S` seconds; otherwise None (fetch again)."""
        kept = self._kept.pop(version, None)
        if kept is None or time.monotonic() - kept[1] > _KEPT_FOR_S:
            return None
        return kept[0]

    def saw_manifest(self, version: int, data: bytes) -> None:
        """Manifest ``version`` is ``data`` (just written or fetched): remembered, if
        it is among the two newest seen and small, for :meth:`write_hint`."""
        if len(data) > MAX_COPY_BYTES:
            return
        recent = {**self._recent, version: data}
        self._recent = {v: recent[v] for v in sorted(recent)[-2:]}

    def read_manifest(self, version: int) -> tuple[Manifest, str]:
        data = self.take_manifest(version)
        if data is None:
            data = self.store.get(self.version_key(version))
        m = parse_manifest(data, where=self.version_url(version))
        return m, digest_of(data)

    def write_hint(self, version: int) -> bool:
        """Overwrite this table's latest-version hint with ``version``, and copies of
        manifests ``version - 1`` and ``version`` where this ref saw them; False
        (logged, never raised) when the store refuses: the hint is an optimisation
        only (docs/format.md, "Latest-version hint")."""
        recent = self._recent
        copies = {v: recent[v] for v in (version - 1, version) if v in recent}
        try:
            write_hint(self.store, self.hint_key, version, copies)
            return True
        except (StoreError, OSError) as e:  # local stores raise OSError (disk full, ...)
            log.debug("tablelog: latest-version hint of %s not written: %s", self.path, e)
            return False


#: A hint GET answered within this many seconds means a store so near (the same
#: machine or network) that a request costs more client CPU (~1.5 ms in s3fs) than
#: waiting: the hint check then lists manifests ``n - 1 … n + 1`` in one request,
#: using the hint's copies, instead of fetching the three at once. Farther away (S3
#: over a WAN) one LIST takes longer than three parallel GETs (docs/format.md,
#: "Latest-version hint").
NEAR_STORE_S = 0.010
#: A reader's first LIST of a table's versions asks for this many keys. A table with
#: more is searched with rounds of parallel existence checks, then listed from near
#: its newest version (SeaweedFS here: a LIST of 1,000 keys ~75 ms, of 128 ~10 ms; a
#: round of 16 HEADs ~20 ms).
FIRST_LIST = 128
#: Existence checks per round of that search, sent in parallel.
PROBES = 16


def latest_version(ref: TableRef, *, hint: int = -1) -> int:
    """The newest version (-1 if none), found by listing or probing, never trusted
    from a hint.

    Versions are contiguous from 0, so which versions exist is a prefix: ``hint`` (a
    version known to exist) only moves the start. Without one, the newest version
    this process saw is checked first, else the table's latest-version hint object
    (:func:`_check_hint_object`); only when neither holds does the search start cold.
    """
    store = ref.store
    remembered = f"{store.url}/{ref.versions_prefix}"
    page = None
    seen = STATES.newest(remembered) if hint < 0 else -1
    if seen >= 0:
        page, hint = _remembered_page(ref, seen)
    if page is None and hint < 0:
        newest, hint = _check_hint_object(ref)
        if newest >= 0:
            STATES.saw(remembered, newest)
            return newest
    if page is None and store.capabilities.ordered_listing:
        page = store.list_page(
            ref.versions_prefix,
            start_after=_after(ref, hint),
            max_keys=FIRST_LIST if hint < 0 else 1000,
        )
    if page is None:
        newest = _probe_search(ref, hint)
    else:
        keys, more = page
        newest = _newest_listed(keys, hint)
        while more:  # many more versions: find one near the newest, list from there
            start = _narrow(ref, newest)
            keys, more = store.list_page(ref.versions_prefix, start_after=_after(ref, start))
            newest = _newest_listed(keys, start)
            if more and newest <= start:  # a server that ignores StartAfter
                newest, more = _probe_search(ref, start), False
    STATES.saw(remembered, newest)  # (-1: forgotten)
    return newest


def _check_hint_object(ref: TableRef) -> tuple[int, int]:
    """(the newest version, -1) if the table's hint names it, else (-1, a version
    known to exist to search from, or -1).

    The hint ``n`` holds when manifest ``n`` exists and is version ``n`` of this
    table, its ``parent`` is the digest of manifest ``n - 1`` of this table (so a
    manifest copied from another run, or a stray name past a gap, is not taken), and
    ``n + 1`` does not exist: one small GET, then manifests ``n - 1``, ``n`` and ``n +
    1`` listed (a near store and a hint with copies) or fetched at once (a GET of an
    absent key costs what a HEAD costs; :func:`_around`). Manifest ``n`` is kept on
    the ref for ``load_version``, which is usually next. A stale hint (``n + 1``
    exists) is still a start for the search; anything else is ignored.
    """
    started = time.monotonic()
    hint = read_hint(ref.store, ref.hint_key)
    if hint is None:
        return -1, -1
    near = time.monotonic() - started < NEAR_STORE_S
    n = hint.version
    try:
        before, got, after = _around(ref, hint, list_them=near)
    except (StoreError, OSError, NotSupportedError):  # the search asks again, and
        return -1, -1  # reports what is wrong
    if got is None or (n > 0 and before is None):  # beyond the end, or past a gap
        return -1, -1
    url = ref.version_url(n)
    try:
        m = parse_manifest(got, where=url)
    except FormatError:  # not for the hint to report: the search finds what is there
        return -1, -1
    if m.version != n or m.key != ref.key:
        return -1, -1
    if m.parent != (None if before is None else digest_of(before)):
        return -1, -1  # not the successor of this table's n - 1
    if after:  # stale: the table has grown since
        return -1, n
    ref.keep_manifest(n, got)
    if before is not None:
        ref.keep_manifest(n - 1, before)
    return n, -1


def _around(
    ref: TableRef, hint: Hint, *, list_them: bool
) -> tuple[bytes | None, bytes | None, bool]:
    """Manifests ``n - 1`` and ``n`` of the hint's ``n`` (None where absent), and
    whether ``n + 1`` exists.

    A hint with copies, on a store that lists in order, when ``list_them`` (a near
    store): one LIST of (at most) those three names, with their ETags; a copy whose
    MD5 is its manifest's listed ETag is that manifest's bytes, and only the others
    are fetched. Otherwise, or when the listing cannot tell (a stray key among the
    names), GET all three at once.
    """
    n = hint.version
    if list_them and hint.copies and ref.store.capabilities.ordered_listing:
        listed = _listed_around(ref, n)
        if listed is not None:
            datas: dict[int, bytes | None] = {}
            for v in (n - 1, n):
                copy = hint.copies.get(v)
                if v < 0 or v not in listed:
                    datas[v] = None
                elif (
                    copy is not None
                    and listed[v] == hashlib.md5(copy, usedforsecurity=False).hexdigest()
                ):
                    datas[v] = copy
            fetch = [v for v in (n - 1, n) if v >= 0 and v not in datas]
            if fetch:
                found = ref.store.get_many_or_none([ref.version_key(v) for v in fetch])
                datas.update(zip(fetch, found, strict=True))
            log.debug(
                "tablelog: hint %d of %s checked by listing, %d fetched", n, ref.path, len(fetch)
            )
            return datas[n - 1], datas[n], n + 1 in listed
    log.debug("tablelog: hint %d of %s checked by fetching", n, ref.path)
    keys = [ref.version_key(v) for v in (n - 1, n, n + 1) if v >= 0]
    before, got, after = ([None] if n == 0 else []) + ref.store.get_many_or_none(keys)
    return before, got, after is not None


def _listed_around(ref: TableRef, n: int) -> dict[int, str] | None:
    """Which of versions ``n - 1``, ``n``, ``n + 1`` exist, each with its listed
    ETag, from one LIST; None if the page does not tell (it stops before a name)."""
    first = max(n - 1, 0)
    names = {ref.version_key(v): v for v in range(first, n + 2)}
    start = ref.version_key(first - 1) if first > 0 else None
    entries, more = ref.store.list_page_etags(
        ref.versions_prefix, start_after=start, max_keys=len(names)
    )
    last = entries[-1][0] if entries else ""
    listed = {names[key]: etag for key, etag in entries if key in names}
    more = more or len(entries) >= len(names)  # (a full page may not say it is cut)
    if more and any(v not in listed and key > last for key, v in names.items()):
        return None
    return listed


def _remembered_page(ref: TableRef, version: int) -> tuple[tuple[list[str], bool] | None, int]:
    """Listing from a version this process saw: (the page, ``version``) if it still
    exists (the page starts with it), else (None, -1) for a cold search."""
    if not ref.store.capabilities.ordered_listing:  # no listing: one existence check
        return None, version if ref.has_version(version) else -1
    page = ref.store.list_page(ref.versions_prefix, start_after=_after(ref, version - 1))
    keys, _ = page
    if keys and keys[0] == ref.version_key(version):
        return page, version
    return None, -1


def _newest_listed(keys: list[str], newest: int) -> int:
    """The last of the versions listed (in order) after ``newest`` that follow it
    without a gap. Versions are contiguous, so a name past a gap (a stray key such as
    ``99999999999999999999.json``) is not a version readers can reach: local stores,
    which probe, never see it either."""
    for k in keys:
        v = paths.parse_version_name(k.rsplit("/", 1)[-1])
        if v is None or v <= newest:
            continue
        if v != newest + 1:
            break
        newest = v
    return newest


def _probe_search(ref: TableRef, lo: int) -> int:
    """Gallop then bisect with one existence check at a time (a local folder)."""
    if lo < 0:
        if not ref.has_version(0):
            return -1
        lo = 0
    step = CHECKPOINT_EVERY
    hi = lo + step
    while ref.has_version(hi):
        lo, step = hi, step * 2
        hi = lo + step
    # lo exists, hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ref.has_version(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _narrow(ref: TableRef, lo: int) -> int:
    """A version at most :data:`FIRST_LIST` below the newest (at the time of the
    checks), found from ``lo`` (which exists) with rounds of parallel checks."""
    hi: int | None = None
    while hi is None:  # gallop: lo + 32, lo + 64, lo + 128, ...
        lo, hi = _split(ref, [lo + CHECKPOINT_EVERY * 2**i for i in range(PROBES)], lo)
    while hi - lo > FIRST_LIST:  # bisect into PROBES + 1 parts
        width = hi - lo
        probes = [lo + width * j // (PROBES + 1) for j in range(1, PROBES + 1)]
        lo, first_missing = _split(ref, probes, lo)
        hi = first_missing if first_missing is not None else hi
    return lo


def _split(ref: TableRef, probes: list[int], lo: int) -> tuple[int, int | None]:
    """The last of ``probes`` that exists (or ``lo``) and the first that does not."""
    found = ref.store.exists_many([ref.version_key(v) for v in probes])
    for v, exists in zip(probes, found, strict=True):
        if not exists:
            return lo, v
        lo = v
    return lo, None


def _after(ref: TableRef, hint: int) -> str | None:
    return ref.version_key(hint) if hint >= 0 else None


def _load_fragments(ref: TableRef, m: Manifest) -> tuple[Fragment, ...]:
    assert m.checkpoint is not None
    out: list[Fragment] = []
    keys = [paths.object_key(s.object, "json.gz") for s in m.checkpoint]
    datas = ref.store.get_many(keys)
    for seg, key, data in zip(m.checkpoint, keys, datas, strict=True):
        url = ref.store.full_url(key)
        if digest_of(data) != seg.object:
            data = get_verified(ref.store, key, seg.object)  # raises with the location
        frags = parse_segment(data, where=url, format_version=m.format_version)
        if len(frags) != seg.fragments:
            raise FormatError(
                f"{url}: segment lists {len(frags)} fragments, expected {seg.fragments}"
            )
        out.extend(frags)
    return tuple(out)


class _StateCache:
    """Recently loaded table states, keyed by the digest of their version's manifest.

    A manifest's digest names its whole chain (each manifest names its parent's
    digest), so a state found here is exactly what reloading that chain would give —
    a deleted and rewritten root or a changed manifest has a different digest and
    misses. Bounded by the fragments it holds (``STATE_FRAGMENTS``); safe across
    threads. It also remembers the newest version seen of each table, where the next
    search for it starts (``NEWEST_TABLES`` tables).
    """

    def __init__(self) -> None:
        self._states: LRU[str, TableState] = LRU(
            "table states",
            max_weight=STATE_FRAGMENTS,
            weight=lambda state: len(state.fragments) + 1,
        )
        self._newest: LRU[str, int] = LRU("newest versions", max_items=NEWEST_TABLES)

    def newest(self, table: str) -> int:
        """The newest version ``table`` had when this process last looked (-1: not
        looked). A start for the next look, checked before it is used: versions are
        never removed, so it holds unless the table was deleted and written again."""
        found = self._newest.get(table)
        return -1 if found is None else found

    def saw(self, table: str, version: int) -> None:
        if version < 0:
            self._newest.pop(table)
        else:
            self._newest.put(table, version)

    def get(self, digest: str | None) -> TableState | None:
        return None if digest is None else self._states.get(digest)

    def put(self, state: TableState) -> None:
        if state.digest is not None:
            self._states.put(state.digest, state)

    def clear(self) -> None:
        self._states.clear()
        self._newest.clear()


STATES = _StateCache()


def _fetch_manifests(ref: TableRef, versions: list[int]) -> list[tuple[Manifest, str, str]]:
    """Manifests of ``versions`` (fetched in parallel), each checked to be where it is."""
    kept = {v: ref.take_manifest(v) for v in versions}
    missing = [v for v in versions if kept[v] is None]
    try:
        fetched = dict(
            zip(missing, ref.store.get_many([ref.version_key(v) for v in missing]), strict=True)
        )
        datas = [fetched[v] if (k := kept[v]) is None else k for v in versions]
    except FileNotFoundError as e:
        which = versions[0] if len(versions) == 1 else f"{versions[0]}..{versions[-1]}"
        raise NotFoundError(
            f"table {ref.path} is missing a manifest of versions {which} in {ref.store.url}: {e}"
        ) from e
    out = []
    for v, data in zip(versions, datas, strict=True):
        url = ref.version_url(v)
        m = parse_manifest(data, where=url)
        if m.version != v or m.key != ref.key:
            raise FormatError(
                f"{url} holds version {m.version} of {m.key!r}, not version {v} of "
                f"{ref.key!r}: the manifest was moved or tampered with"
            )
        out.append((m, digest_of(data), url))
    for v, data in zip(versions[-2:], datas[-2:], strict=True):
        ref.saw_manifest(v, data)  # (for the hints a writer on this ref writes)
    return out


def load_version(ref: TableRef, version: int, *, base: TableState | None = None) -> TableState:
    """The state at ``version``; reuses ``base`` (an older state of the same table) when close.

    Without ``base``, the manifest of ``version`` is read first: a state already
    loaded for it (or for its parent) in this process is reused (``STATES``),
    so re-reading a version, or the next one of a growing table, costs one GET.
    """
    if version < 0:
        return TableState()
    newest: list[tuple[Manifest, str, str]] = []
    if base is None:
        newest = _fetch_manifests(ref, [version])
        m, digest, url = newest[0]
        cached = STATES.get(digest)
        if cached is not None:
            return cached
        parent = STATES.get(m.parent)
        if parent is None and m.change.replace and m.schema is not None:
            # A replacing version (compaction, IMMUTABLE re-log) lists the whole table.
            parent = TableState(
                version=version - 1,
                digest=m.parent,
                schema=m.schema,
                segments_valid=False,
                increment_count=count_before(m),
            )
        if parent is not None and parent.version == version - 1:
            state = apply_manifest(parent, m, digest, where=url)
            STATES.put(state)
            return state
    start = version - version % CHECKPOINT_EVERY
    if base is not None and base.exists and start <= base.version <= version:
        first = base.version + 1
    else:
        base, first = None, start
    if first > version:
        return base if base is not None else TableState()
    last = version if newest else version + 1  # the newest manifest is already here
    manifests = _fetch_manifests(ref, list(range(first, last))) if first < last else []
    manifests += newest
    state = base if base is not None else TableState()
    begin = 0
    if base is None:
        # A later version that replaced the whole table (a compaction, an IMMUTABLE
        # re-log) makes the checkpoint's fragment list moot: skip reading its segments.
        replaced = [i for i, (m, _, _) in enumerate(manifests) if i and m.change.replace]
        if replaced:
            begin = replaced[-1]
            prev, prev_digest, _ = manifests[begin - 1]
            schema = next(m.schema for m, _, _ in reversed(manifests[:begin]) if m.schema)
            state = TableState(
                version=prev.version,
                digest=prev_digest,
                mode=prev.mode,
                schema=schema,
                segments_valid=False,
                increment_count=prev.increment_count,
            )
        else:
            m, digest, url = manifests[0]
            state = state_from_checkpoint(m, digest, _load_fragments(ref, m), where=url)
            begin = 1
    for m, digest, url in manifests[begin:]:
        state = apply_manifest(state, m, digest, where=url)
    STATES.put(state)
    return state


def refresh(ref: TableRef, state: TableState) -> TableState:
    """``state`` brought up to the newest version."""
    latest = latest_version(ref, hint=state.version)
    if latest == state.version:
        return state
    return load_version(ref, latest, base=state)


def read_history(ref: TableRef, latest: int) -> list[tuple[Manifest, str]]:
    """Every manifest 0..latest (fetched in parallel), with its digest."""
    datas = ref.store.get_many([ref.version_key(v) for v in range(latest + 1)])
    return [
        (parse_manifest(d, where=ref.version_url(v)), digest_of(d)) for v, d in enumerate(datas)
    ]


def unmerged_fragments(ref: TableRef, state: TableState) -> tuple[Fragment, ...]:
    """``state``'s fragments, each one a writer merged (docs/format.md, "Merged
    fragments") replaced by the plain fragments it took in. Their objects are still in
    the store (older versions list them): an Iceberg export partitioned by
    ``_increment`` registers them one increment each, and a compaction that a writer's
    merge overtook re-lists them."""
    fv2 = state.format_version == 2
    if fv2:  # every object stores _increment: a merge holds several increments
        merged = {f.id for f in state.fragments if (f.last_increment or f.increment) > f.increment}
    else:  # only merged and compacted objects store _increment
        merged = {f.id for f in state.fragments if INCREMENT_COLUMN in f.groups[0].columns}
    if not merged or (not fv2 and len(merged) == len(state.fragments)):
        return state.fragments
    out: list[Fragment] = []
    for f in state.fragments:
        taken = _merge_sources(ref, state, f) if f.id in merged else None
        out.extend(taken if taken is not None else (f,))
    return tuple(out)


def _merge_sources(ref: TableRef, state: TableState, f: Fragment) -> tuple[Fragment, ...] | None:
    """The fragments a writer's merge replaced by ``f``, or None if ``f`` is not one."""
    head = f.id.split(".", 1)[0]
    if not head.isdigit() or not 0 < int(head) <= state.version:
        return None
    v = int(head)
    m, _ = ref.read_manifest(v)
    if m.change.replace or not m.change.remove or f not in m.change.add:
        return None
    gone = set(m.change.remove)
    taken = tuple(x for x in load_version(ref, v - 1).fragments if x.id in gone)
    # (format 1: a merge takes in plain fragments only; format 2 has no plain ones)
    plain = state.format_version == 2 or all(
        INCREMENT_COLUMN not in x.groups[0].columns for x in taken
    )
    if not plain or sum(x.rows for x in taken) != f.rows:
        return None
    return taken


def version_at_step(ref: TableRef, step: int, latest: int) -> int:
    """The newest version whose step, and every earlier version's, is at most ``step``
    (-1 if there is none): a binary search on the largest step so far, which only grows
    even where writers of one chain interleave their steps (``extra.max_step``)."""
    lo, hi, found = 0, latest, -1
    while lo <= hi:
        mid = (lo + hi) // 2
        m, _ = ref.read_manifest(mid)
        high = max_step_of(m)
        if high is not None and high <= step:
            found, lo = mid, mid + 1
        else:
            hi = mid - 1
    return found


def find_shards(store: Store, project: str, run_id: str, key: str) -> list[str]:
    """The shard ids of table ``key`` (sorted; empty for an unsharded table)."""
    prefix = paths.shards_prefix(project, run_id, key)
    names = (k[len(prefix) :] for k in store.list(prefix) if k.startswith(prefix))
    return sorted(paths.decode(n) for n in names if n and "/" not in n)


def shard_ref(ref: TableRef, shard: str) -> TableRef:
    """The chain of shard ``shard`` of the table ``ref`` names."""
    return TableRef(ref.store, ref.project, ref.run_id, paths.shard_key(shard, ref.key))
