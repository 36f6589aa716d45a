"""The public table handle: one table of a store, with its version, step, increment and
shard selectors resolved into table states in one place.

Readers (``read``), maintenance, interop, the CLI and the viewer open a table with
:func:`open_table` and ask the handle for states; none of them resolves a selector on
its own::

    table = open_table("project/run_id/key", root="s3://bucket/tables")
    state = table.state(step=100)              # a TableState (format.state)
    frags, by_value = table.increment_fragments(state, 3)

A sharded table (docs/format.md, "Shards") has no chain of its own:
:meth:`TableHandle.latest` raises :class:`~tablelog.NotFoundError` naming a shard, and
:meth:`TableHandle.sharded` gives every shard's handle and state.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tablelog.errors import InvalidArgumentError, InvalidNameError, NotFoundError, TableError
from tablelog.format import paths
from tablelog.format.chain import (
    TableRef,
    find_shards,
    latest_version,
    load_version,
    version_at_step,
)
from tablelog.format.manifest import INCREMENT_COLUMN, Fragment, Increment
from tablelog.format.state import TableState, max_step_of, tags_increments
from tablelog.objects.store import Store

#: Where a table's store is: a URL or folder (``None``: ``$TABLELOG_ROOT`` or the local default).
Root = str | os.PathLike[str] | None

#: Shards read in parallel.
SHARD_THREADS = 16


def split_path(path: str) -> tuple[str, str, str]:
    """``"project/run_id/key"`` -> parts; everything after the second ``/`` is the key."""
    if not isinstance(path, str):
        raise InvalidNameError(f"a table path must be a string, got {type(path).__name__}")
    parts = path.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise InvalidNameError(f"a table path is 'project/run_id/key', got {path!r}")
    project = paths.check_segment_name("project", parts[0])
    run_id = parts[1] if parts[1] == "*" else paths.check_segment_name("run id", parts[1])
    key = parts[2]
    shard = paths.parse_shard_key(key)
    if shard is not None:  # one shard's chain, addressed directly (_shard/<id>/<key>)
        paths.shard_key(*shard)
        if shard[1] != "_history":
            paths.check_key(shard[1])
    elif key != "_history":
        paths.check_key(key)
    return project, run_id, key


def list_tables(store: Store, project: str, run_id: str) -> set[str]:
    """The table keys of run ``project/run_id`` (shards' chains as ``_shard/...``)."""
    prefix = paths.tables_prefix(project, run_id)
    keys = set()
    for k in store.list(prefix):
        rest = k[len(prefix) :]
        keys.add(paths.decode(rest.split("/", 1)[0]))
    return keys


def list_runs(store: Store, project: str) -> list[str]:
    """The ids of the runs of ``project`` that have a ``run.json`` (sorted)."""
    prefix = paths.runs_prefix(project)
    runs = set()
    for k in store.list(prefix):
        rest = k[len(prefix) :]
        if rest.endswith("/run.json") and rest.count("/") == 1:
            runs.add(paths.decode(rest.split("/", 1)[0]))
    return sorted(runs)


class TableHandle(TableRef):
    """A table of a store (``project/run_id/key``) and its selectors resolved to states.

    A :class:`~tablelog.format.chain.TableRef` (where its versions live) with the
    readers' rules: which version a ``version=``/``step=`` names, which fragments an
    ``increment=`` reads, and which shards make up a sharded table.
    """

    def latest(self) -> int:
        """The newest version; :class:`~tablelog.NotFoundError` (saying what exists
        instead: no run, a sharded table, the run's tables) when there is none."""
        latest = latest_version(self)
        if latest < 0:
            run_key = paths.run_json_key(self.project, self.run_id)
            if not self.store.exists(run_key):
                raise NotFoundError(f"no run {self.project}/{self.run_id} in {self.store.url}")
            shards = self.shards()
            if shards:
                raise NotFoundError(
                    f"table {self.path} is sharded ({len(shards)} shards): scan, show, history "
                    f"and files read it whole; this takes one shard at a time, e.g. "
                    f"{self.project}/{self.run_id}/{paths.shard_key(shards[0], self.key)}"
                )
            raise NotFoundError(
                f"run {self.project}/{self.run_id} has no table {self.key!r} in "
                f"{self.store.url}; its tables: "
                f"{sorted(list_tables(self.store, self.project, self.run_id))}"
            )
        return latest

    def resolve(self, *, version: int | None = None, step: int | None = None) -> int:
        """The version a reader asked for (``version=``, negative from the latest, or
        ``step=``; default the latest), checked to exist."""
        latest = self.latest()
        if version is not None and step is not None:
            raise InvalidArgumentError("give version= or step=, not both")
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int):
                raise InvalidArgumentError(f"version must be an integer, got {version!r}")
            v = version if version >= 0 else latest + 1 + version
            if not 0 <= v <= latest:
                raise NotFoundError(
                    f"table {self.path} has versions 0..{latest}; there is no version {version}"
                )
            return v
        if step is not None:
            found = version_at_step(self, step, latest)
            if found < 0:
                raise NotFoundError(f"table {self.path} has no version at or before step {step}")
            return found
        return latest

    def state(self, *, version: int | None = None, step: int | None = None) -> TableState:
        """The state at the version :meth:`resolve` names; for ``step=`` on a format-2
        table, cut at the newest increment logged at or before the step (see
        :func:`state_at_step`)."""
        if step is not None and version is None:
            found = state_at_step(self, step, self.latest())
            if found is None:
                raise NotFoundError(f"table {self.path} has no version at or before step {step}")
            return found
        return load_version(self, self.resolve(version=version, step=step))

    def tags_increments(self, state: TableState) -> bool:
        """Whether rows of ``state`` read with an ``_increment`` column
        (:func:`~tablelog.format.state.tags_increments`)."""
        return tags_increments(state, self.key)

    def increment_fragments(
        self, state: TableState, increment: int | None
    ) -> tuple[tuple[Fragment, ...], bool]:
        """The fragments that hold ``increment``'s rows (None: every fragment), and
        whether their rows must still be filtered by their ``_increment`` value
        (objects a compaction wrote hold several increments)."""
        frags = state.fragments
        if increment is None:
            return frags, False
        if state.format_version == 2:
            return self._increment_fragments_2(state, increment)
        # Format 1: increment i is version i's log (one that added no rows has no
        # fragment, and reads as no rows).
        if not 0 <= increment <= state.version:
            raise NotFoundError(
                f"table {self.path} version {state.version} has no increment {increment}"
            )
        if any(INCREMENT_COLUMN in g.columns for f in frags for g in f.groups):
            # Objects that store _increment (compacted) are filtered by value; the
            # others hold one increment each, named in the manifest.
            return tuple(
                f
                for f in frags
                if f.increment == increment or any(INCREMENT_COLUMN in g.columns for g in f.groups)
            ), True
        return tuple(f for f in frags if f.increment == increment), False

    def _increment_fragments_2(
        self, state: TableState, increment: int
    ) -> tuple[tuple[Fragment, ...], bool]:
        """Format 2: every increment below the count exists (one with no rows has no
        fragment); the fragments whose range holds it, by value where a range is wider."""
        count = state.increment_count or 0
        if state.through_increment is not None:
            count = min(count, state.through_increment + 1)
        if not 0 <= increment < count:
            raise NotFoundError(
                f"table {self.path} version {state.version} has increments 0..{count - 1}, "
                f"not {increment}"
            )
        frags = tuple(f for f in state.fragments if f.increment <= increment <= _last(f))
        wide = [f for f in frags if _last(f) != f.increment]
        untagged = next(
            (f for f in wide if not any(INCREMENT_COLUMN in g.columns for g in f.groups)), None
        )
        if untagged is not None:
            # (MUTABLE, IMMUTABLE: compacted rows record where they came from, not which
            # log added each row)
            raise TableError(
                f"table {self.path} version {state.version}: the rows of increment "
                f"{increment} were compacted with those of increments {untagged.increment}.."
                f"{_last(untagged)} into fragment {untagged.id}, which does not record "
                "each row's increment; read a version from before the compaction"
            )
        return frags, bool(wide)

    # ------------------------------------------------------------------ shards

    def shards(self) -> list[str]:
        """The shard ids of this table (sorted; empty for an unsharded table)."""
        return find_shards(self.store, self.project, self.run_id, self.key)

    def shard(self, shard: str) -> TableHandle:
        """The chain of shard ``shard`` of this table."""
        return TableHandle(self.store, self.project, self.run_id, paths.shard_key(shard, self.key))

    def shard_states(
        self, shards: list[str], *, step: int | None
    ) -> list[tuple[str, TableHandle, TableState]]:
        """Each of ``shards`` at its newest version (at or before ``step`` if given), in
        shard order; shards with no such version are left out. Read in parallel."""

        def one(shard: str) -> tuple[str, TableHandle, TableState] | None:
            sref = self.shard(shard)
            latest = latest_version(sref)
            if latest < 0:
                return None  # marked, but its first commit never landed
            if step is None:
                return shard, sref, load_version(sref, latest)
            state = state_at_step(sref, step, latest)
            if state is None:
                return None  # nothing logged at or before the step
            return shard, sref, state

        with ThreadPoolExecutor(max(1, min(SHARD_THREADS, len(shards)))) as pool:
            found = list(pool.map(one, shards))
        return [f for f in found if f is not None]

    def check_shard_selector(self, shards: list[str], **given: int | None) -> bool:
        """Whether selectors that name one shard's chain are given: fine for a table with
        one shard (a job where only rank 0 logged), refused with what to use instead
        otherwise."""
        named = [name for name, value in given.items() if value is not None]
        if named and len(shards) > 1:
            shown = ", ".join(shards[:5]) + (", ..." if len(shards) > 5 else "")
            raise InvalidArgumentError(
                f"table {self.path} is sharded ({len(shards)} shards: {shown}); {named[0]}= "
                f"numbers belong to one shard: pass shard=... with {named[0]}= (or read the "
                f"path {self.project}/{self.run_id}/{paths.shard_key(shards[0], self.key)}), "
                "or select by step="
            )
        return bool(named)

    def sharded(
        self, *, version: int | None = None, step: int | None = None
    ) -> list[tuple[str, TableHandle, TableState]] | None:
        """The shards of this sharded table as ``(shard, shard's handle, state)``, each at
        its newest version (at or before ``step``), in shard order; None when this is
        not a sharded table. ``version=`` names one shard's version, so it is refused for
        a table with several shards (:meth:`check_shard_selector`); with one shard it is
        that shard's version."""
        shards = self.shards()
        if not shards:
            return None
        if self.check_shard_selector(shards, version=version):
            sref = self.shard(shards[0])
            return [(shards[0], sref, sref.state(version=version, step=step))]
        states = self.shard_states(shards, step=step)
        if not states:
            at = "" if step is None else f" at or before step {step}"
            raise NotFoundError(f"no shard of table {self.path} has a version{at}")
        return states


def _last(f: Fragment) -> int:
    return f.increment if f.last_increment is None else f.last_increment


def state_at_step(ref: TableRef, step: int, latest: int) -> TableState | None:
    """The table as of ``step`` (None when nothing was logged at or before it): the
    newest version whose steps are all at most ``step``; in format 2, where one commit
    may hold several increments, the next version cut at its newest increment whose
    (high) step is at most ``step`` when it has one (docs/format.md, "Reading format
    2"). Steps of a chain never go back (``max_step``), so only that one version can
    hold such an increment."""
    found = version_at_step(ref, step, latest)
    if found < latest:
        m, _ = ref.read_manifest(found + 1)
        if m.increments and len(m.increments) > 1:
            high = max_step_of(ref.read_manifest(found)[0]) if found >= 0 else None
            through: tuple[Increment, int] | None = None
            for inc in m.increments:
                if inc.step is not None and (high is None or inc.step > high):
                    high = inc.step
                if high is None or high > step:
                    break
                through = (inc, high)
            if through is not None:
                state = load_version(ref, found + 1)
                return cut_at_increment(state, m.increments, *through)
    return load_version(ref, found) if found >= 0 else None


def cut_at_increment(
    state: TableState, increments: tuple[Increment, ...], through: Increment, high: int
) -> TableState:
    """``state`` without the rows of the ``increments`` its version added after
    ``through``, whose high step is ``high`` (a reader's view,
    :attr:`TableState.through_increment`); ``state`` itself when none follows it."""
    later = [i for i in increments if i.number > through.number]
    if not later:
        return state
    return dataclasses.replace(
        state,
        step=through.step,
        max_step=high,
        rows=state.rows - sum(i.rows for i in later),
        fragments=tuple(f for f in state.fragments if f.increment <= through.number),
        through_increment=through.number,
    )


def open_table(
    path: str,
    *,
    root: Root = None,
    storage_options: Mapping[str, Any] | None = None,
    store: Store | None = None,
) -> TableHandle:
    """The handle of table ``project/run_id/key`` (its name checked) in ``store``, or in
    the store ``root`` names (opened with ``storage_options``)."""
    project, run_id, key = split_path(path)
    if store is None:
        # (here, not at the top: the format layer itself loads no store backend or fsspec)
        from tablelog.objects.open import open_store

        store = open_store(root, storage_options=storage_options)
    return TableHandle(store, project, run_id, key)


def handle_of(ref: TableRef) -> TableHandle:
    """The handle of the table ``ref`` names."""
    if isinstance(ref, TableHandle):
        return ref
    return TableHandle(ref.store, ref.project, ref.run_id, ref.key)


__all__ = [
    "Root",
    "TableHandle",
    "handle_of",
    "list_runs",
    "list_tables",
    "open_table",
    "split_path",
]
