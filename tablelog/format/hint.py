"""A table's latest-version hint: ``{"version": n}`` beside its manifests.

Advisory only (docs/format.md, "Latest-version hint"): any writer may overwrite it
with the newest version it committed, and readers check it against the manifests
(``chain.latest_version``) and search as before when the check fails. Whatever the
object holds — nothing, garbage, a stale or a forged number — can cost a reader
time, never a wrong version.
"""

from __future__ import annotations

import json

from tablelog.errors import ArgumentTypeError, InvalidArgumentError, StoreError
from tablelog.objects.store import Store

#: Readers fetch at most this many bytes of a hint (one ranged GET); a longer object
#: is not a hint. ``{"version":99999999999999999998}`` is 32 bytes.
MAX_HINT_BYTES = 64
#: The largest version a hint may name: manifest names have 20 digits, and the check
#: looks at version ``n + 1`` too.
MAX_HINT_VERSION = 10**20 - 2


def encode_hint(version: int) -> bytes:
    """The bytes of a hint naming ``version`` (canonical JSON)."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ArgumentTypeError(f"a hint names a version number, got {version!r}")
    if not 0 <= version <= MAX_HINT_VERSION:
        raise InvalidArgumentError(f"a hint names a version 0..{MAX_HINT_VERSION}, got {version}")
    return json.dumps({"version": version}, sort_keys=True, separators=(",", ":")).encode()


def parse_hint(data: bytes) -> int | None:
    """The version ``data`` names, or None for anything that is not a hint (which a
    reader treats as no hint at all)."""
    if len(data) >= MAX_HINT_BYTES:  # (maybe cut short by the ranged read)
        return None
    try:
        value = json.loads(data)
    except ValueError:  # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        return None
    if not isinstance(value, dict) or set(value) != {"version"}:
        return None
    version = value["version"]
    if type(version) is not int or not 0 <= version <= MAX_HINT_VERSION:
        return None
    return version


def read_hint(store: Store, key: str) -> int | None:
    """The version the hint at ``key`` names; None when there is none, it is not a
    hint, or it cannot be read (the reader then searches, which reports a store that
    is down with its own error)."""
    try:
        data = store.get_range(key, 0, MAX_HINT_BYTES)
    except (OSError, StoreError):  # missing (NotFoundError is both), or unreadable
        return None
    return parse_hint(data)


def write_hint(store: Store, key: str, version: int) -> None:
    """Overwrite the hint at ``key`` with ``version`` (a plain PUT: the last writer
    wins, and a stale hint only costs readers a search)."""
    store.put(key, encode_hint(version))
