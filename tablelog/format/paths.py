"""Every key tablelog writes is built here (see docs/format.md, "Bucket layout").

Names are percent-encoded so that no project, run id or table key can escape its
prefix or collide with another: ``/``, ``%``, control characters, a leading ``.``
and anything outside a small safe set are encoded, never dropped.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote

from tablelog.errors import InvalidNameError

MAX_NAME_CHARS = 200
MAX_ENCODED_CHARS = 240
_SAFE = "-_.~@+=,"


def _check(kind: str, name: object) -> str:
    if not isinstance(name, str):
        raise InvalidNameError(f"{kind} must be a string, got {type(name).__name__} {name!r}")
    if not name or not name.strip():
        raise InvalidNameError(f"{kind} must not be empty or only spaces")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidNameError(
            f"{kind} is {len(name)} characters long; the limit is {MAX_NAME_CHARS}: {name[:40]!r}…"
        )
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cs")]
    if bad:  # (before encoding: a lone surrogate has no UTF-8)
        what = "a lone surrogate" if unicodedata.category(bad[0]) == "Cs" else "control character"
        raise InvalidNameError(f"{kind} {name!r} contains {what} {bad[0]!r}: use printable text")
    if len(encode(name)) > MAX_ENCODED_CHARS:
        raise InvalidNameError(
            f"{kind} {name[:40]!r}… is {len(encode(name))} characters once percent-encoded; "
            f"the limit is {MAX_ENCODED_CHARS} (object stores limit path lengths)"
        )
    return name


def check_segment_name(kind: str, name: object) -> str:
    """Validate a project name or run id: printable, no ``/``, not ``.`` or ``..``."""
    text = _check(kind, name)
    if "/" in text or "\\" in text:
        raise InvalidNameError(f"{kind} {text!r} must not contain '/' or '\\'")
    if text in (".", ".."):
        raise InvalidNameError(f"{kind} must not be {text!r}")
    return text


#: Keys :func:`check_key` accepted (a training loop logs the same few keys every step).
_GOOD_KEYS: set[str] = set()


def check_key(key: object) -> str:
    """Validate a table key: free text (``/`` and unicode allowed), no control chars."""
    if type(key) is str and key in _GOOD_KEYS:
        return key
    text = _check("table key", key)
    if text.startswith("_"):
        raise InvalidNameError(
            f"table key {text!r} starts with '_', which is reserved for tablelog's own "
            "tables (such as _history)"
        )
    if len(_GOOD_KEYS) < 4096:
        _GOOD_KEYS.add(text)
    return text


def encode(name: str) -> str:
    """One path segment for ``name``; reversible with :func:`decode`."""
    out = quote(name, safe=_SAFE)
    if out.startswith("."):
        out = "%2E" + out[1:]
    return out


def decode(segment: str) -> str:
    """Inverse of :func:`encode`."""
    return unquote(segment)


def object_key(digest: str, ext: str = "parquet") -> str:
    """Content-addressed data object (Parquet) or segment list (``json.gz``)."""
    return f"objects/{digest[:2]}/{digest}.{ext}"


#: ``<sha256>.<ext>``: the file name of a media blob (docs/format.md, "Media").
BLOB_NAME = re.compile(r"[0-9a-f]{64}\.[a-z0-9]{1,16}")


def check_blob_name(name: object) -> str:
    """``name`` if it is a media blob name; anything else (a cell from an untrusted
    bucket, a hand-made digest) is refused before it becomes a key."""
    if not isinstance(name, str) or not BLOB_NAME.fullmatch(name):
        raise InvalidNameError(
            f"not a media blob name <sha256>.<ext> (lowercase hex, 1-16 lowercase letters "
            f"or digits): {str(name)[:90]!r}"
        )
    return name


def media_key(digest: str, ext: str) -> str:
    """Content-addressed media blob (both parts checked)."""
    return media_blob_key(f"{digest}.{ext}")


def media_blob_key(name: str) -> str:
    """The key of the media blob named ``<digest>.<ext>`` (as column groups list them)."""
    check_blob_name(name)
    return f"media/{name[:2]}/{name}"


def iceberg_prefix(namespace: tuple[str, ...], name: str) -> str:
    """Default location of an exported Iceberg table's metadata (no data is copied)."""
    return "_iceberg/" + "/".join(encode(part) for part in (*namespace, name)) + "/"


def projects_prefix() -> str:
    return "projects/"


def runs_prefix(project: str) -> str:
    return f"projects/{encode(project)}/runs/"


def run_prefix(project: str, run_id: str) -> str:
    return f"{runs_prefix(project)}{encode(run_id)}/"


def run_json_key(project: str, run_id: str) -> str:
    return f"{run_prefix(project, run_id)}run.json"


def tables_prefix(project: str, run_id: str) -> str:
    return f"{run_prefix(project, run_id)}tables/"


#: Internal table keys of shards: ``_shard/<shard id>/<key>`` (docs/format.md, "Shards").
SHARD_PREFIX = "_shard/"


#: The column that reads of a sharded table add, naming each row's shard; a sharded
#: run refuses a table with a column of this name (readers would replace it).
SHARD_COLUMN = "_shard"


def shard_key(shard: str, key: str) -> str:
    """The internal table key holding shard ``shard`` of table ``key``."""
    return f"{SHARD_PREFIX}{check_segment_name('shard', shard)}/{key}"


def parse_shard_key(table_key: str) -> tuple[str, str] | None:
    """(shard, key) of an internal shard key; None for any other table key."""
    if not table_key.startswith(SHARD_PREFIX):
        return None
    shard, slash, key = table_key[len(SHARD_PREFIX) :].partition("/")
    return (shard, key) if slash and shard and key else None


def is_history(table_key: str) -> bool:
    """Whether a table key is a run's scalar history (``_history``, or a shard's)."""
    shard = parse_shard_key(table_key)
    return (table_key if shard is None else shard[1]) == "_history"


def shards_prefix(project: str, run_id: str, key: str) -> str:
    """Where a sharded table's shard markers live (one empty object per shard)."""
    return f"{run_prefix(project, run_id)}shards/{encode(key)}/"


def shard_marker_key(project: str, run_id: str, key: str, shard: str) -> str:
    return f"{shards_prefix(project, run_id, key)}{encode(shard)}"


def table_prefix(project: str, run_id: str, key: str) -> str:
    """Everything of one table: ``…/tables/<K>/`` (its versions and its hint)."""
    return f"{tables_prefix(project, run_id)}{encode(key)}/"


def versions_prefix(project: str, run_id: str, key: str) -> str:
    return f"{table_prefix(project, run_id, key)}versions/"


#: The file name of a table's latest-version hint, beside its ``versions/`` folder
#: (docs/format.md, "Latest-version hint"). Not a version name: listings of
#: ``versions/`` never see it.
LATEST_HINT_NAME = "_latest.json"


def latest_hint_key(project: str, run_id: str, key: str) -> str:
    """A table's latest-version hint: ``…/tables/<K>/_latest.json`` (advisory)."""
    return f"{table_prefix(project, run_id, key)}{LATEST_HINT_NAME}"


def version_key(project: str, run_id: str, key: str, version: int) -> str:
    """Manifest ``version`` of a table: ``…/versions/<n:020d>.json``."""
    return version_key_in(versions_prefix(project, run_id, key), version)


def version_key_in(prefix: str, version: int) -> str:
    """Manifest ``version`` below a table's ``versions_prefix``."""
    return f"{prefix}{version:020d}.json"


def parse_version_name(name: str) -> int | None:
    """The version number of a manifest file name, or None if it is not one."""
    stem, dot, ext = name.rpartition(".")
    if not dot or ext != "json" or len(stem) != 20 or not (stem.isascii() and stem.isdigit()):
        return None
    return int(stem)
