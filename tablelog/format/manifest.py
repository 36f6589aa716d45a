"""The manifest model and its one JSON codec (docs/format.md, "Manifests").

Manifests are canonical JSON (sorted keys, fixed separators, no NaN) so a manifest's
SHA-256 is reproducible; the next version records it as ``parent``. Parsing is strict:
size limits, known fields only, types checked, and ``format_version`` picks the parser.

Both formats are modelled, encoded and parsed here (docs/format.md, "Format 2"):
new tables are written in :data:`FORMAT_VERSION` unless a writer is told to keep
format 1 (``chain.write_format``); :func:`parse_manifest` and :func:`parse_segment`
read every format up to ``max_format`` (the newest by default).
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tablelog.errors import FormatError, InvalidArgumentError, NewerFormatError
from tablelog.format import paths

#: The format new tables are written in, and the newest one readers accept.
FORMAT_VERSION = 2
#: The newest format this module can encode and parse.
NEWEST_FORMAT = 2
#: The newest format readers accept (what ``max_format`` defaults to). Tests set it to 1
#: to read as a release that predates format 2 does.
READ_FORMAT = NEWEST_FORMAT
#: A format-2 commit adds at most this many increments (docs/format.md, "Commits").
MAX_COMMIT_INCREMENTS = 256
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_SEGMENT_BYTES = 256 * 1024 * 1024
MODES = ("IMMUTABLE", "MUTABLE", "INCREMENTAL")
_DIGEST_CHARS = frozenset("0123456789abcdef")
_LOG_ID = re.compile(r"[0-9a-f]{32}")

JSON = Any


#: The column holding each row's increment in objects that store it (compacted and
#: merged INCREMENTAL fragments); readers add it to the other rows.
INCREMENT_COLUMN = "_increment"


@dataclass(frozen=True, kw_only=True)
class ColumnGroup:
    """Some columns of a fragment's rows, in one content-addressed Parquet object."""

    object: str
    columns: tuple[str, ...]
    size: int
    #: Media blobs (``<digest>.<ext>`` under ``media/<aa>/``) the group's cells refer
    #: to, sorted and distinct (docs/format.md, "Media").
    media: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Fragment:
    """A run of rows; its columns live in one or more column groups of equal length."""

    id: str
    rows: int
    #: Format 1: the version that added the rows. Format 2: the first increment the
    #: rows belong to (``first``).
    increment: int
    groups: tuple[ColumnGroup, ...]
    #: Format 2 only (``last``): the last increment the rows belong to, ``>=
    #: increment``; None in format 1, where a fragment names one increment.
    last_increment: int | None = None


@dataclass(frozen=True, kw_only=True)
class Column:
    """A column of the table's schema: logical kind and the Arrow type (as JSON)."""

    name: str
    kind: str
    arrow: JSON


@dataclass(frozen=True, kw_only=True)
class Change:
    """What a version changed relative to its parent."""

    replace: bool = False
    add: tuple[Fragment, ...] = ()
    remove: tuple[str, ...] = ()
    add_groups: tuple[tuple[str, ColumnGroup], ...] = ()

    @property
    def is_append(self) -> bool:
        return not (self.replace or self.remove or self.add_groups)


@dataclass(frozen=True, kw_only=True)
class SegmentRef:
    """A content-addressed list of consecutive fragments (part of a checkpoint)."""

    object: str
    fragments: int


@dataclass(frozen=True, kw_only=True)
class Increment:
    """Format 2: one ``run.log`` of the key, with its own identity (docs/format.md,
    "Increments")."""

    number: int
    step: int | None
    time: float
    rows: int
    log_id: str


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Version ``version`` of one table. See docs/format.md for every field."""

    #: (The model's default is format 1, whose manifests have no increments; writers
    #: name the format they write.)
    format_version: int = 1
    key: str
    version: int
    parent: str | None
    mode: str
    step: int | None
    time: float
    writer: str
    schema: tuple[Column, ...] | None
    rows: int
    fragments: int
    change: Change
    checkpoint: tuple[SegmentRef, ...] | None = None
    separate: bool = False
    extra: Mapping[str, JSON] = field(default_factory=dict)
    #: Format 2 only (None in format 1): the increments this commit adds, in order,
    #: and the number of increments of versions 0..version.
    increments: tuple[Increment, ...] | None = None
    increment_count: int | None = None


# ----------------------------------------------------------------------------- encode


def _group_json(g: ColumnGroup) -> JSON:
    out = {"object": g.object, "columns": list(g.columns), "size": g.size}
    if g.media:
        out["media"] = list(g.media)
    return out


def _fragment_json(f: Fragment, format_version: int) -> JSON:
    out: dict[str, JSON] = {
        "id": f.id,
        "rows": f.rows,
        "groups": [_group_json(g) for g in f.groups],
    }
    if format_version == 1:
        if f.last_increment is not None:
            raise InvalidArgumentError(f"fragment {f.id}: format 1 has no last increment")
        out["increment"] = f.increment
    else:
        if f.last_increment is None:
            raise InvalidArgumentError(f"fragment {f.id}: format 2 needs its last increment")
        out["first"] = f.increment
        out["last"] = f.last_increment
    return out


def _increment_json(i: Increment) -> JSON:
    return {"number": i.number, "step": i.step, "time": i.time, "rows": i.rows, "log_id": i.log_id}


def _check_encodable(format_version: int) -> None:
    if isinstance(format_version, bool) or format_version not in range(1, NEWEST_FORMAT + 1):
        raise InvalidArgumentError(
            f"cannot encode format version {format_version!r}: 1..{NEWEST_FORMAT} only"
        )


def canonical_json(value: JSON) -> bytes:
    """The one JSON encoding tablelog writes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def manifest_to_json(m: Manifest) -> JSON:
    fv = m.format_version
    _check_encodable(fv)
    if (fv == 1) != (m.increments is None) or (m.increments is None) != (m.increment_count is None):
        raise InvalidArgumentError(
            f"version {m.version}: increments and increment_count are written in format 2 "
            f"and only there, not format {fv}"
        )
    out: dict[str, JSON] = {
        "format_version": m.format_version,
        "key": m.key,
        "version": m.version,
        "parent": m.parent,
        "mode": m.mode,
        "step": m.step,
        "time": m.time,
        "writer": m.writer,
        "rows": m.rows,
        "fragments": m.fragments,
        "change": {
            "replace": m.change.replace,
            "add": [_fragment_json(f, fv) for f in m.change.add],
            "remove": list(m.change.remove),
            "add_groups": [
                {"fragment": fid, "group": _group_json(g)} for fid, g in m.change.add_groups
            ],
        },
    }
    if m.schema is not None:
        out["schema"] = [{"name": c.name, "kind": c.kind, "arrow": c.arrow} for c in m.schema]
    if m.checkpoint is not None:
        out["checkpoint"] = [{"object": s.object, "fragments": s.fragments} for s in m.checkpoint]
    if m.separate:
        out["separate"] = True
    if m.extra:
        out["extra"] = dict(m.extra)
    if m.increments is not None:
        out["increments"] = [_increment_json(i) for i in m.increments]
        out["increment_count"] = m.increment_count
    return out


def encode_manifest(m: Manifest) -> bytes:
    return canonical_json(manifest_to_json(m))


def encode_segment(fragments: tuple[Fragment, ...], *, format_version: int = 1) -> bytes:
    """A segment object: gzip of canonical JSON, deterministic (mtime 0); a checkpoint's
    segments are of its manifest's format."""
    _check_encodable(format_version)
    body = canonical_json(
        {
            "format_version": format_version,
            "fragments": [_fragment_json(f, format_version) for f in fragments],
        }
    )
    return gzip.compress(body, compresslevel=6, mtime=0)


# ------------------------------------------------------------------------------ parse


def _fail(where: str, what: str) -> FormatError:
    return FormatError(f"malformed manifest {where}: {what}")


def _obj(
    value: JSON, where: str, required: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, JSON]:
    if not isinstance(value, dict):
        raise _fail(where, f"expected an object, got {type(value).__name__}")
    missing = required - value.keys()
    if missing:
        raise _fail(where, f"missing field(s) {sorted(missing)}")
    unknown = value.keys() - required - optional
    if unknown:
        raise _fail(where, f"unknown field(s) {sorted(unknown)}")
    return value


def _int(value: JSON, where: str, *, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _fail(where, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _str(value: JSON, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"expected a string, got {type(value).__name__}")
    return value


def _digest(value: JSON, where: str) -> str:
    text = _str(value, where)
    if len(text) != 64 or not set(text) <= _DIGEST_CHARS:
        raise _fail(where, f"expected a SHA-256 hex digest, got {text[:80]!r}")
    return text


def _list(value: JSON, where: str) -> list[JSON]:
    if not isinstance(value, list):
        raise _fail(where, f"expected a list, got {type(value).__name__}")
    return value


def _blob_name(value: JSON, where: str) -> str:
    text = _str(value, where)
    if not paths.BLOB_NAME.fullmatch(text):
        raise _fail(where, f"expected a media blob name <sha256>.<ext>, got {text[:90]!r}")
    return text


_GROUP_FIELDS = frozenset({"object", "columns", "size"})
_FRAGMENT_FIELDS = frozenset({"id", "rows", "increment", "groups"})
_FRAGMENT2_FIELDS = frozenset({"id", "rows", "first", "last", "groups"})
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _quick_group(v: JSON) -> ColumnGroup | None:
    """A well-formed group without media, or None (then the strict path decides).

    Manifests and segments of long tables hold thousands of groups; this accepts only
    what :func:`parse_group` accepts, without building its error locations up front.
    """
    if type(v) is not dict or v.keys() != _GROUP_FIELDS:
        return None
    obj, cols, size = v["object"], v["columns"], v["size"]
    if (
        type(obj) is not str
        or not _HEX64.fullmatch(obj)
        or type(size) is not int
        or size < 0
        or type(cols) is not list
        or not cols
        or not all(type(c) is str for c in cols)
    ):
        return None
    return ColumnGroup(object=obj, columns=tuple(cols), size=size)


def _quick_fragment(v: JSON, format_version: int = 1) -> Fragment | None:
    if type(v) is not dict:
        return None
    if format_version == 1:
        if v.keys() != _FRAGMENT_FIELDS:
            return None
        first = last = v["increment"]
    else:
        if v.keys() != _FRAGMENT2_FIELDS:
            return None
        first, last = v["first"], v["last"]
    fid, rows, groups = v["id"], v["rows"], v["groups"]
    if (
        type(fid) is not str
        or type(rows) is not int
        or rows < 0
        or type(first) is not int
        or first < 0
        or type(last) is not int
        or last < first
        or type(groups) is not list
        or not groups
    ):
        return None
    parsed = []
    for g in groups:
        group = _quick_group(g)
        if group is None:
            return None
        parsed.append(group)
    return Fragment(
        id=fid,
        rows=rows,
        increment=first,
        groups=tuple(parsed),
        last_increment=None if format_version == 1 else last,
    )


def parse_group(value: JSON, where: str) -> ColumnGroup:
    quick = _quick_group(value)
    if quick is not None:
        return quick
    v = _obj(value, where, {"object", "columns", "size"}, frozenset({"media"}))
    cols = tuple(_str(c, f"{where}.columns") for c in _list(v["columns"], f"{where}.columns"))
    if not cols:
        raise _fail(where, "a column group needs at least one column")
    media: tuple[str, ...] = ()
    if "media" in v:
        media = tuple(_blob_name(b, f"{where}.media") for b in _list(v["media"], f"{where}.media"))
    return ColumnGroup(
        object=_digest(v["object"], f"{where}.object"),
        columns=cols,
        size=_int(v["size"], f"{where}.size"),
        media=media,
    )


def parse_fragment(value: JSON, where: str, *, format_version: int = 1) -> Fragment:
    """A fragment of a ``format_version`` manifest or segment (format 2: ``first`` and
    ``last`` instead of ``increment``)."""
    quick = _quick_fragment(value, format_version)
    if quick is not None:
        return quick
    fields = _FRAGMENT_FIELDS if format_version == 1 else _FRAGMENT2_FIELDS
    v = _obj(value, where, set(fields))
    groups = tuple(
        parse_group(g, f"{where}.groups[{i}]")
        for i, g in enumerate(_list(v["groups"], f"{where}.groups"))
    )
    if not groups:
        raise _fail(where, "a fragment needs at least one column group")
    last = None
    if format_version == 1:
        first = _int(v["increment"], f"{where}.increment")
    else:
        first = _int(v["first"], f"{where}.first")
        last = _int(v["last"], f"{where}.last")
        if last < first:
            raise _fail(where, f"increments {first}..{last}: last is before first")
    return Fragment(
        id=_str(v["id"], f"{where}.id"),
        rows=_int(v["rows"], f"{where}.rows"),
        increment=first,
        groups=groups,
        last_increment=last,
    )


_INCREMENT_FIELDS = {"number", "step", "time", "rows", "log_id"}


def _parse_increment(value: JSON, where: str) -> Increment:
    v = _obj(value, where, _INCREMENT_FIELDS)
    step = v["step"]
    log_id = _str(v["log_id"], f"{where}.log_id")
    if not is_log_id(log_id):
        raise _fail(where, f"log_id must be 32 lowercase hex digits, got {log_id[:40]!r}")
    return Increment(
        number=_int(v["number"], f"{where}.number"),
        step=None if step is None else _int(step, f"{where}.step"),
        time=_time(v["time"], f"{where}.time"),
        rows=_int(v["rows"], f"{where}.rows"),
        log_id=log_id,
    )


def log_ids(m: Manifest) -> tuple[str, ...]:
    """The ids of the logs manifest ``m`` commits: its increments' in format 2, its
    ``extra.log`` in format 1 (none for a compaction)."""
    if m.increments is not None:
        return tuple(i.log_id for i in m.increments)
    found = m.extra.get("log")
    return (found,) if isinstance(found, str) else ()


def is_log_id(text: str) -> bool:
    """Whether ``text`` is a log id as format 2 records it: 32 lowercase hex digits."""
    return _LOG_ID.fullmatch(text) is not None


def _time(value: JSON, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _fail(where, f"time must be a number, got {value!r}")
    return float(value)


def _check_increments(m: Manifest, where: str) -> None:
    """The rules of one format-2 manifest (docs/format.md, "Increments", "Commits");
    those between a manifest and its parent are the chain's."""
    increments, count = m.increments, m.increment_count
    assert increments is not None and count is not None
    if len(increments) > MAX_COMMIT_INCREMENTS:
        raise _fail(where, f"{len(increments)} increments, more than {MAX_COMMIT_INCREMENTS}")
    if len(increments) > 1 and (m.mode != "INCREMENTAL" or m.separate):
        kind = "separate INCREMENTAL" if m.separate else m.mode
        raise _fail(where, f"a {kind} version holds one increment, not {len(increments)}")
    if increments:
        first = increments[0].number
        numbers = [i.number for i in increments]
        if numbers != list(range(first, first + len(increments))):
            raise _fail(where, f"increment numbers {numbers[:8]} are not consecutive")
        if count != numbers[-1] + 1:
            raise _fail(
                where, f"increment_count {count} is not the last increment {numbers[-1]} + 1"
            )
        if m.step != increments[-1].step:
            raise _fail(
                where, f"step {m.step} is not its last increment's step {increments[-1].step}"
            )
    for f in m.change.add:
        assert f.last_increment is not None
        if f.last_increment >= count:
            raise _fail(
                where,
                f"fragment {f.id} holds increment {f.last_increment}, but the table has "
                f"{count} increments",
            )


def _parse_column(value: JSON, where: str) -> Column:
    v = _obj(value, where, {"name", "kind", "arrow"})
    return Column(
        name=_str(v["name"], f"{where}.name"),
        kind=_str(v["kind"], f"{where}.kind"),
        arrow=v["arrow"],
    )


def _loads(data: bytes, where: str, limit: int) -> JSON:
    if len(data) > limit:
        raise _fail(where, f"{len(data)} bytes is over the {limit}-byte limit")

    def no_constants(name: str) -> None:
        raise _fail(where, f"non-standard JSON constant {name}")

    try:
        return json.loads(data.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise _fail(where, f"not valid JSON ({e})") from e


def check_format_version(value: JSON, *, what: str, where: str, newest: int) -> int:
    """``value``, the ``format_version`` of the ``what`` at ``where``, if this tablelog
    reads it (1 … ``newest``); otherwise a :class:`FormatError` that names the object and
    its format: a newer one says to upgrade tablelog, anything else is damage
    (docs/format.md, "Versioning policy"). Checked before any other field, since the
    version decides what the other fields mean."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise FormatError(
            f"{what} {where} has no integer format_version (got {str(value)[:40]!r}): "
            "it is damaged or not a tablelog object"
        )
    if value > newest:
        raise NewerFormatError(
            f"{what} {where} was written with format version {value}, but this tablelog "
            f"reads format version {newest} at most: upgrade tablelog"
        )
    if value < 1:
        raise FormatError(
            f"{what} {where} has format version {value}, which no tablelog writes: "
            "it is damaged or not a tablelog object"
        )
    return value


def _max_format(max_format: int | None) -> int:
    if max_format is None:
        return READ_FORMAT
    if isinstance(max_format, bool) or max_format not in range(1, NEWEST_FORMAT + 1):
        raise InvalidArgumentError(f"max_format is 1..{NEWEST_FORMAT}, got {max_format!r}")
    return max_format


def parse_manifest(data: bytes, *, where: str, max_format: int | None = None) -> Manifest:
    """Parse and validate manifest bytes read from ``where`` (a URL, for messages).

    ``max_format`` is the newest format accepted (:data:`READ_FORMAT` if None)."""
    v = _loads(data, where, MAX_MANIFEST_BYTES)
    if not isinstance(v, dict):
        raise _fail(where, "expected a JSON object")
    fv = check_format_version(
        v.get("format_version"), what="manifest", where=where, newest=_max_format(max_format)
    )
    v = _obj(
        v,
        where,
        {
            "format_version",
            "key",
            "version",
            "parent",
            "mode",
            "step",
            "time",
            "writer",
            "rows",
            "fragments",
            "change",
            *(("increments", "increment_count") if fv >= 2 else ()),
        },
        frozenset({"schema", "checkpoint", "separate", "extra"}),
    )
    mode = _str(v["mode"], f"{where}.mode")
    if mode not in MODES:
        raise _fail(where, f"unknown mode {mode!r}")
    parent = v["parent"]
    if parent is not None:
        parent = _digest(parent, f"{where}.parent")
    step = v["step"]
    if step is not None:
        step = _int(step, f"{where}.step")
    t = _time(v["time"], f"{where}.time")
    ch = _obj(v["change"], f"{where}.change", {"replace", "add", "remove", "add_groups"})
    if not isinstance(ch["replace"], bool):
        raise _fail(where, "change.replace must be true or false")
    add_groups = []
    for i, item in enumerate(_list(ch["add_groups"], f"{where}.change.add_groups")):
        w = f"{where}.change.add_groups[{i}]"
        item = _obj(item, w, {"fragment", "group"})
        add_groups.append((_str(item["fragment"], w), parse_group(item["group"], w)))
    change = Change(
        replace=ch["replace"],
        add=tuple(
            _quick_fragment(f, fv)
            or parse_fragment(f, f"{where}.change.add[{i}]", format_version=fv)
            for i, f in enumerate(_list(ch["add"], f"{where}.change.add"))
        ),
        remove=tuple(_str(r, f"{where}.change.remove") for r in _list(ch["remove"], where)),
        add_groups=tuple(add_groups),
    )
    schema = None
    if "schema" in v:
        schema = tuple(
            _parse_column(c, f"{where}.schema[{i}]")
            for i, c in enumerate(_list(v["schema"], f"{where}.schema"))
        )
    checkpoint = None
    if "checkpoint" in v:
        checkpoint = tuple(
            SegmentRef(
                object=_digest(_obj(s, where, {"object", "fragments"})["object"], where),
                fragments=_int(s["fragments"], where),
            )
            for s in _list(v["checkpoint"], f"{where}.checkpoint")
        )
    separate = v.get("separate", False)
    if not isinstance(separate, bool):
        raise _fail(where, "separate must be true or false")
    extra = v.get("extra", {})
    if not isinstance(extra, dict):
        raise _fail(where, "extra must be an object")
    increments = increment_count = None
    if fv >= 2:
        increments = tuple(
            _parse_increment(item, f"{where}.increments[{i}]")
            for i, item in enumerate(_list(v["increments"], f"{where}.increments"))
        )
        increment_count = _int(v["increment_count"], f"{where}.increment_count")
    m = Manifest(
        format_version=fv,
        key=_str(v["key"], f"{where}.key"),
        version=_int(v["version"], f"{where}.version"),
        parent=parent,
        mode=mode,
        step=step,
        time=t,
        writer=_str(v["writer"], f"{where}.writer"),
        schema=schema,
        rows=_int(v["rows"], f"{where}.rows"),
        fragments=_int(v["fragments"], f"{where}.fragments"),
        change=change,
        checkpoint=checkpoint,
        separate=separate,
        extra=extra,
        increments=increments,
        increment_count=increment_count,
    )
    if fv >= 2:
        _check_increments(m, where)
    return m


def parse_segment(
    data: bytes, *, where: str, max_format: int | None = None, format_version: int | None = None
) -> tuple[Fragment, ...]:
    """Parse a segment object (gzip JSON list of fragments); ``max_format`` as for
    :func:`parse_manifest`. ``format_version``, when given, is the format of the
    checkpoint manifest that lists the segment, which the segment must be of."""
    try:
        inflater = zlib.decompressobj(wbits=31)
        body = inflater.decompress(data, MAX_SEGMENT_BYTES + 1)
    except zlib.error as e:
        raise _fail(where, f"segment is not gzip ({e})") from e
    v = _loads(body, where, MAX_SEGMENT_BYTES)
    if not isinstance(v, dict):
        raise _fail(where, "a segment is a JSON object")
    fv = check_format_version(
        v.get("format_version"),
        what="checkpoint segment",
        where=where,
        newest=_max_format(max_format),
    )
    if format_version is not None and fv != format_version:
        raise FormatError(
            f"checkpoint segment {where} is format {fv}, but the checkpoint that lists it is "
            f"format {format_version}: a checkpoint's segments are of its format"
        )
    v = _obj(v, where, {"format_version", "fragments"})
    return tuple(
        _quick_fragment(f, fv) or parse_fragment(f, f"{where}.fragments[{i}]", format_version=fv)
        for i, f in enumerate(_list(v["fragments"], f"{where}.fragments"))
    )
