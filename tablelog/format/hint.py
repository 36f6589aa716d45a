"""A table's latest-version hint: ``{"version": n}`` beside its manifests, with copies
of manifests ``n - 1`` and ``n`` when the writer has them.

Advisory only (docs/format.md, "Latest-version hint"): any writer may overwrite it
with the newest version it committed, and readers check it against the manifests
(``chain.latest_version``) and search as before when the check fails. A copy is used
only where the store lists the manifest with an MD5 ETag equal to the copy's MD5, so
it saves a reader the GET of that manifest and nothing more. Whatever the object
holds — nothing, garbage, a stale or a forged number, copies that do not match — can
cost a reader time, never a wrong version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from tablelog.errors import ArgumentTypeError, InvalidArgumentError, StoreError
from tablelog.format.manifest import JSON, canonical_json
from tablelog.objects.store import Store

#: Readers fetch at most this many bytes of a hint (one ranged GET); a longer object
#: is not a hint. Writers leave the copies out of a hint that would not fit.
MAX_HINT_BYTES = 64 * 1024
#: The largest version a hint may name: manifest names have 20 digits, and the check
#: looks at version ``n + 1`` too.
MAX_HINT_VERSION = 10**20 - 2
#: Writers remember (``TableRef.saw_manifest``) and copy manifests up to this size.
MAX_COPY_BYTES = 16 * 1024


@dataclass(frozen=True)
class Hint:
    """What a hint says: the newest version, and copies of manifests ``version - 1``
    and ``version`` (either, both or none), by version."""

    version: int
    copies: Mapping[int, bytes] = field(default_factory=dict)


def encode_hint(version: int, copies: Mapping[int, bytes] | None = None) -> bytes:
    """The bytes of a hint naming ``version`` (canonical JSON), with ``copies`` of
    manifests ``version - 1`` and ``version`` (their exact stored bytes, UTF-8)."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ArgumentTypeError(f"a hint names a version number, got {version!r}")
    if not 0 <= version <= MAX_HINT_VERSION:
        raise InvalidArgumentError(f"a hint names a version 0..{MAX_HINT_VERSION}, got {version}")
    value: dict[str, JSON] = {"version": version}
    if copies:
        if not set(copies) <= {version - 1, version} or min(copies) < 0:
            raise InvalidArgumentError(
                f"a hint of version {version} copies manifests {version - 1} and {version} "
                f"only, got {sorted(copies)}"
            )
        value["manifests"] = {str(v): data.decode("utf-8") for v, data in copies.items()}
    return canonical_json(value)


def parse_hint(data: bytes) -> Hint | None:
    """What ``data`` says, or None for anything that is not a hint (which a reader
    treats as no hint at all)."""
    if len(data) >= MAX_HINT_BYTES:  # (maybe cut short by the ranged read)
        return None
    try:
        value = json.loads(data)
    except ValueError:  # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        return None
    if not isinstance(value, dict) or not {"version"} <= set(value) <= {"version", "manifests"}:
        return None
    version = value["version"]
    if type(version) is not int or not 0 <= version <= MAX_HINT_VERSION:
        return None
    copies = value.get("manifests", {})
    if not isinstance(copies, dict):
        return None
    names = {str(v): v for v in (version - 1, version) if v >= 0}
    out: dict[int, bytes] = {}
    for name, text in copies.items():
        if name not in names or not isinstance(text, str):
            return None
        try:
            out[names[name]] = text.encode("utf-8")
        except UnicodeEncodeError:  # (a lone surrogate, written as an escape)
            return None
    return Hint(version, out)


def read_hint(store: Store, key: str) -> Hint | None:
    """The hint at ``key``; None when there is none, it is not a hint, or it cannot be
    read (the reader then searches, which reports a store that is down with its own
    error)."""
    try:
        data = store.get_range(key, 0, MAX_HINT_BYTES)
    except (OSError, StoreError):  # missing (NotFoundError is both), or unreadable
        return None
    return parse_hint(data)


def write_hint(
    store: Store, key: str, version: int, copies: Mapping[int, bytes] | None = None
) -> None:
    """Overwrite the hint at ``key`` with ``version`` and the ``copies`` that fit (a
    plain PUT: the last writer wins, and a stale hint only costs readers a search)."""
    kept = dict(copies or {})
    while True:
        data = encode_hint(version, kept)
        if len(data) < MAX_HINT_BYTES or not kept:
            break
        del kept[min(kept)]  # (the copy of n is worth more: without it, one more GET)
    store.put(key, data)
