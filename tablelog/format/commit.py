"""The commit protocol: upload objects, then create the next manifest if absent.

A writer that loses the race re-reads the table, re-plans (an append rebases
trivially) and retries with jittered backoff within a time budget. An ambiguous
outcome is resolved by reading the manifest back: same digest means it landed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from tablelog.errors import (
    CommitStateUnknownError,
    CommitTimeoutError,
    FormatError,
    StoreError,
    StoreRefusedError,
    TableError,
)
from tablelog.format import paths
from tablelog.format.chain import TableRef, refresh
from tablelog.format.manifest import MAX_MANIFEST_BYTES, encode_manifest, parse_manifest
from tablelog.format.plan import GroupIntent, Intent, plan_commit
from tablelog.format.state import TableState, apply_manifest
from tablelog.objects import deadline as store_deadline
from tablelog.objects.cas import digest_of, put_content

DEFAULT_BUDGET_S = 300.0
#: Longest pause between attempts after losing races (reached after ~10 losses).
MAX_BACKOFF_S = 5.0


def commit(
    ref: TableRef,
    state: TableState,
    intent: Intent | GroupIntent | Callable[[TableState], Intent | GroupIntent],
    *,
    budget_s: float = DEFAULT_BUDGET_S,
    clock: Callable[[], float] = time.time,
) -> TableState:
    """Commit ``intent`` on top of ``state`` (refreshed as needed); return the new state.

    ``intent`` may be a function of the current state, re-evaluated after a rebase. A
    :class:`~tablelog.format.plan.GroupIntent` commits format 2 (docs/format.md,
    "Commits").
    Data objects the intent references must already be uploaded.
    """
    deadline = time.monotonic() + budget_s
    # Store failures give up at the caller's deadline (its retry budget), if any;
    # losing races to other writers is progress and gets the whole budget.
    outer = store_deadline.current()
    store_failures_until = deadline if outer is None else min(deadline, outer)
    attempt = 0
    while True:
        it = intent(state) if callable(intent) else intent
        plan = plan_commit(state, it, key=ref.key, time=clock())
        for digest, data in plan.segments:
            put_content(ref.store, paths.object_key(digest, "json.gz"), data)
        data = encode_manifest(plan.manifest)
        if len(data) > MAX_MANIFEST_BYTES:
            # Readers refuse such a manifest: committing it would break the table.
            raise TableError(
                f"version {plan.manifest.version} of {ref.path} would need a "
                f"{len(data):,}-byte manifest, over the {MAX_MANIFEST_BYTES:,}-byte limit "
                "readers accept (too many fragments or media blobs in one log); log the "
                "rows in several parts or compact the table. Nothing was committed"
            )
        digest = digest_of(data)
        where = ref.version_url(plan.manifest.version)
        if plan.manifest.version == 0:
            _mark_shard(ref)
        winner = _create(ref, plan.manifest.version, data, digest, store_failures_until)
        if winner is None:
            ref.saw_manifest(plan.manifest.version, data)
            return apply_manifest(state, plan.manifest, digest, where=where)
        attempt += 1
        if time.monotonic() > deadline:
            raise CommitTimeoutError(
                f"gave up committing {ref.path} after {attempt} attempts in {budget_s:.0f} s: "
                "other writers kept winning; retry later"
            )
        # Back off more the more often we lose: under contention the offered load drops
        # instead of every loser retrying within half a second.
        time.sleep(random.uniform(0, min(MAX_BACKOFF_S, 0.005 * 2 ** min(attempt, 10))))
        state = _after_loss(ref, state, winner)


def _mark_shard(ref: TableRef) -> None:
    """Before a shard's first version: its marker, so that readers of the table find it."""
    parsed = paths.parse_shard_key(ref.key)
    if parsed is not None:
        shard, key = parsed
        ref.store.put_if_absent(paths.shard_marker_key(ref.project, ref.run_id, key, shard), b"")


def _after_loss(ref: TableRef, state: TableState, winner: bytes) -> TableState:
    """``state`` moved past a lost race: the winner's manifest (already read) applied,
    then anything newer; a winner that does not apply is simply read again."""
    version = state.version + 1
    where = ref.version_url(version)
    try:
        m = parse_manifest(winner, where=where)
        if m.version != version or m.key != ref.key:
            raise FormatError(f"{where} holds version {m.version} of {m.key!r}")
        state = apply_manifest(state, m, digest_of(winner), where=where)
        ref.saw_manifest(version, winner)
    except FormatError:
        pass  # refresh() re-reads it and reports a real problem with its location
    return refresh(ref, state)


def _create(ref: TableRef, version: int, data: bytes, digest: str, deadline: float) -> bytes | None:
    """Create manifest ``version``: None if ours is there, else the manifest that is."""
    key = ref.version_key(version)
    delay = 0.05
    while True:
        try:
            created = ref.store.put_if_absent(key, data)
            if created:
                return None
        except StoreRefusedError:
            raise  # refused (403, bad credentials, 400): nothing was created
        except StoreError as e:
            # Timeout, 5xx, 409 in-flight conflict: the PUT may or may not have landed.
            err: StoreError | None = e
            if time.monotonic() > deadline:  # no time to look: the caller checks later
                raise CommitStateUnknownError(
                    f"could not tell whether version {version} of {ref.path} was written "
                    f"({err}); read the table back before retrying"
                ) from err
        else:
            err = None
        try:
            existing = ref.store.get(key)
        except FileNotFoundError:
            existing = None
        except StoreError as e:
            existing, err = None, e
        if existing is not None:
            # "Exists" after our own transport-level retry is our write: same digest.
            return None if digest_of(existing) == digest else existing
        if time.monotonic() > deadline:
            raise CommitStateUnknownError(
                f"could not tell whether version {version} of {ref.path} was written "
                f"({err}); read the table back before retrying"
            ) from err
        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 2.0)
