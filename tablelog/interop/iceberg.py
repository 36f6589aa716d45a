"""Export a table version to Apache Iceberg without copying data.

The version's Parquet objects are registered in place as Iceberg data files; only
Iceberg metadata (a metadata JSON, a manifest list and Avro manifests) is written, by
default under ``<root>/_iceberg/<namespace>/<name>/``. Any engine with Iceberg support
(Spark, Trino, Athena, Snowflake, DuckDB, ``pl.scan_iceberg``) then reads the version.

What the Iceberg table holds (see the README section "Apache Iceberg"):

* The table's columns, with the Arrow types of the tablelog schema (read through
  Iceberg's name mapping: tablelog's Parquet files carry no field ids).
* INCREMENTAL tables (not ``summary="none"``, not ``_history``): also ``_increment``
  (long), the version that appended the row, as tablelog's ``scan`` shows it. The
  column is not stored in uncompacted objects, so the Iceberg table is partitioned by
  ``identity(_increment)`` and each data file's partition value carries it (Iceberg
  readers take a missing identity-partition column from the partition value). When
  every fragment is compacted (``_increment`` stored in the objects) the Iceberg table
  is unpartitioned. A fragment a writer merged from its own logs (docs/format.md,
  "Merged fragments") is registered as the objects it was merged from (older versions
  list them, so they are still in the store), one increment each.
* Row order is not part of Iceberg; compare exported rows as sets.
* A sharded table (written by several processes with shard ids) exports as one
  Iceberg table: every shard's latest version, with a ``_shard`` (string) column that,
  like ``_increment``, is an identity partition carried by each data file's partition
  value (``scan`` shows the same column). Re-exporting appends each shard's new objects.

Re-exporting a newer version of the same table to the same identifier commits one new
Iceberg snapshot: an ``append`` of only the new objects when the old version's
objects are all still there (INCREMENTAL, MUTABLE new rows), else an ``overwrite``
that removes the objects the version no longer lists and adds the new ones (IMMUTABLE
re-log, compaction). Exporting the same version again commits nothing. Each snapshot's
summary records ``tablelog.path``, ``tablelog.version`` and ``tablelog.digest``.

What cannot be registered without copying is refused with a message naming the
object and the remedy (``tablelog compact`` rewrites the latest version into plain
objects): a fragment whose columns live in several objects (a column added after
logging), one object listed by two fragments (identical rows logged twice), an object
whose stored type Iceberg cannot promote to the schema's (an integer column later
widened to float), for partitioned exports a compacted object holding rows of
several increments next to uncompacted fragments, and a column that has no non-null
value yet (Arrow type null: Iceberg format 2 has no such type).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from tablelog.errors import InvalidArgumentError, NotFoundError, TablelogError
from tablelog.format import paths
from tablelog.format.arrow_types import stored_type
from tablelog.format.chain import TableRef, load_version, unmerged_fragments
from tablelog.format.handle import Root, TableHandle, open_table
from tablelog.format.manifest import INCREMENT_COLUMN, Fragment
from tablelog.format.state import TableState, tags_increments
from tablelog.objects.local import LocalStore
from tablelog.objects.store import Store
from tablelog.read.shards import SHARD_COLUMN

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table as IcebergTable
    from pyiceberg.table import Transaction
    from pyiceberg.table.metadata import TableMetadata

EXTRA = "pip install 'tablelog[iceberg]'"
_PATH_PROP = "tablelog.path"
_VERSION_PROP = "tablelog.version"
_DIGEST_PROP = "tablelog.digest"


@dataclass(frozen=True, kw_only=True)
class IcebergExport:
    """What :func:`to_iceberg` did."""

    identifier: str
    path: str
    version: int  # -1: every shard of a sharded table (at its latest version)
    location: str
    #: ``"create"``, ``"append"``, ``"overwrite"`` or ``"none"`` (already exported)
    operation: str
    snapshot_id: int | None
    added_files: int
    removed_files: int
    data_files: int
    rows: int
    metadata_location: str

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class _File:
    url: str
    object: str
    increment: int | None  # the partition value; None: unpartitioned or stored in the file
    rows: int
    shard: str | None = None  # a sharded table's shard (the _shard partition value)


def _require_pyiceberg() -> None:
    try:
        import pyiceberg.catalog.sql  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"exporting to Apache Iceberg needs pyiceberg with SQLAlchemy: {EXTRA} ({e})"
        ) from e


def iceberg_io_properties(store: Store) -> dict[str, str]:
    """pyiceberg FileIO properties that reach ``store`` (S3 endpoint and credentials).

    Derived from the store's options and the AWS configuration the same way Polars'
    are: credentials only when the caller passed them in ``storage_options``,
    otherwise pyiceberg's S3 client finds them itself (environment, profile). Nothing
    here is ever written into Iceberg metadata.
    """
    options = store.reader_options()
    if not options:
        return {}
    mapping = {
        "aws_access_key_id": "s3.access-key-id",
        "aws_secret_access_key": "s3.secret-access-key",
        "aws_session_token": "s3.session-token",
        "aws_region": "s3.region",
        "aws_endpoint_url": "s3.endpoint",
        "aws_profile": "s3.profile-name",
    }
    out = {mapping[k]: str(v) for k, v in options.items() if k in mapping}
    if options.get("aws_skip_signature") == "true":
        out["s3.anonymous"] = "true"
    if "s3.endpoint" in out:
        out["s3.force-virtual-addressing"] = "false"
    return out


def _object_url(store: Store, digest: str) -> str:
    key = paths.object_key(digest)
    if isinstance(store, LocalStore):
        return Path(store.full_url(key)).resolve().as_uri()
    return store.full_url(key)


def _location(store: Store, namespace: tuple[str, ...], name: str) -> str:
    key = paths.iceberg_prefix(namespace, name).rstrip("/")
    if isinstance(store, LocalStore):
        return Path(store.full_url(key)).resolve().as_uri()
    return store.full_url(key)


def _open_catalog(catalog: str | Catalog, store: Store) -> Catalog:
    if not isinstance(catalog, str):
        return catalog
    from pyiceberg.catalog.sql import SqlCatalog

    if "://" not in catalog:
        raise InvalidArgumentError(
            f"catalog must be a SQLAlchemy URL such as 'sqlite:////path/catalog.db' or a "
            f"pyiceberg Catalog, got {_redacted(catalog)!r}"
        )
    try:
        return SqlCatalog("tablelog", uri=catalog, **iceberg_io_properties(store))
    except Exception as e:  # SQLAlchemy raises many error types for a bad URL
        raise TablelogError(
            f"cannot open the Iceberg SQL catalog {_redacted(catalog)!r}: {e}"
        ) from e


def _redacted(url: str) -> str:
    """``url`` without its password (a catalog URL may carry database credentials)."""
    try:
        from sqlalchemy.engine import make_url

        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:  # not parseable as a database URL: show only its scheme
        return url.split("://", 1)[0] + "://…"


def _split_identifier(identifier: str | Sequence[str]) -> tuple[tuple[str, ...], str]:
    parts = tuple(identifier.split(".")) if isinstance(identifier, str) else tuple(identifier)
    if len(parts) < 2 or not all(isinstance(p, str) and p for p in parts):
        raise InvalidArgumentError(
            f"identifier must be 'namespace.table' (or a tuple of names), got {identifier!r}"
        )
    return parts[:-1], parts[-1]


def _plan_files(ref: TableRef, state: TableState, *, tagged: bool) -> list[_File]:
    """One Iceberg data file per fragment, or an error saying why that is impossible."""
    store, path = ref.store, ref.path
    seen: dict[str, Fragment] = {}
    out = []
    # (format 1: a merged object has no one increment, its sources do; format 2 exports
    # unpartitioned, every object as it is)
    unmerge = tagged and state.format_version != 2
    for f in unmerged_fragments(ref, state) if unmerge else state.fragments:
        if len(f.groups) != 1:
            raise TablelogError(
                f"{path} version {state.version}: fragment {f.id} keeps its columns in "
                f"{len(f.groups)} objects (columns added after logging); Iceberg data files "
                "hold whole rows. Run `tablelog compact` on the table, then export the new "
                "version"
            )
        digest = f.groups[0].object
        if digest in seen:
            raise TablelogError(
                f"{path} version {state.version}: object {digest} holds the rows of fragments "
                f"{seen[digest].id} and {f.id} (identical rows logged twice); Iceberg lists a "
                "data file once, so its rows would be counted once. Run `tablelog compact` "
                "on the table, then export the new version"
            )
        seen[digest] = f
        physical = INCREMENT_COLUMN in f.groups[0].columns
        increment = f.increment if tagged and not physical else None
        out.append(_File(_object_url(store, digest), digest, increment, f.rows))
    return out


def _arrow_schema(state: TableState, path: str, *, tagged: bool) -> pa.Schema:
    fields = [
        pa.field(c.name, stored_type(c.arrow, column=c.name, where=path)) for c in state.schema
    ]
    untyped = [f.name for f in fields if pa.types.is_null(f.type)]
    if untyped:
        raise TablelogError(
            f"{path} version {state.version}: column(s) {untyped} have no non-null value yet "
            "(Arrow type null), which Iceberg format 2 cannot represent; export a version "
            "in which they have values"
        )
    if tagged:
        fields.append(pa.field(INCREMENT_COLUMN, pa.int64()))
    return pa.schema(fields)


def _footer(fileio: FileIO, file: _File) -> tuple[pq.FileMetaData, int]:
    """The Parquet footer of an object and its size (the rows are not read)."""
    input_file = fileio.new_input(file.url)
    with input_file.open() as stream:
        return pq.read_metadata(stream), len(input_file)


def _check_types(metadata: TableMetadata, footer: pq.FileMetaData, file: _File, path: str) -> None:
    from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible

    sink = io.StringIO()
    try:
        # pyiceberg prints a table of the mismatch to stdout before raising.
        with contextlib.redirect_stdout(sink):
            _check_pyarrow_schema_compatible(
                metadata.schema(),
                footer.schema.to_arrow_schema(),
                format_version=metadata.format_version,
            )
    except ValueError as e:
        rows = [line for line in str(e).splitlines() if "❌" in line]
        bad = [" ".join(line.strip("│┃ ❌").split()) for line in rows]
        what = "; ".join(bad) if bad else " ".join(str(e).split())[:300]
        raise TablelogError(
            f"{path}: object {file.url} cannot be registered in Iceberg as it is stored "
            f"(table field vs stored field: {what}). Run `tablelog compact` on the table (it "
            "rewrites the objects in the schema's types), then export the new version"
        ) from e


def _data_file(
    metadata: TableMetadata, file: _File, footer: pq.FileMetaData, size: int, path: str
) -> DataFile:
    """An Iceberg DataFile for an existing object, from its footer."""
    from pyiceberg.io.pyarrow import (
        compute_statistics_plan,
        data_file_statistics_from_parquet_metadata,
        parquet_path_to_id_mapping,
    )
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    schema = metadata.schema()
    stats = data_file_statistics_from_parquet_metadata(
        parquet_metadata=footer,
        stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    spec = metadata.spec()
    values = {INCREMENT_COLUMN: file.increment, SHARD_COLUMN: file.shard}
    if spec.is_unpartitioned():
        partition = Record()
    elif all(values.get(f.name) is not None for f in spec.fields):
        partition = Record(*(values[f.name] for f in spec.fields))
    else:
        try:
            partition = stats.partition(spec, schema)
        except ValueError as e:
            raise TablelogError(
                f"{path}: object {file.url} holds rows of several increments (a compaction, "
                "or a commit of several logs), but the Iceberg table is partitioned by "
                "_increment because other fragments do not store it. Run `tablelog compact` "
                "on the table (every fragment compacted exports unpartitioned) and export "
                "to a new identifier"
            ) from e
    if stats.record_count != file.rows:
        raise TablelogError(
            f"{path}: object {file.url} has {stats.record_count} rows, its manifest says "
            f"{file.rows}"
        )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=file.url,
        file_format=FileFormat.PARQUET,
        partition=partition,
        file_size_in_bytes=size,
        sort_order_id=None,
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **stats.to_serialized_dict(),
    )


def _data_files(fileio: FileIO, tx: Transaction, files: list[_File], path: str) -> list[DataFile]:
    if not files:
        return []
    metadata = tx.table_metadata
    with ThreadPoolExecutor(max_workers=min(16, len(files))) as pool:
        footers = list(pool.map(lambda f: _footer(fileio, f), files))
    checked: set[str] = set()
    for file, (footer, _) in zip(files, footers, strict=True):
        key = str(footer.schema.to_arrow_schema())
        if key not in checked:  # one check per distinct stored schema, in this thread
            _check_types(metadata, footer, file, path)
            checked.add(key)
    return [
        _data_file(metadata, file, footer, size, path)
        for file, (footer, size) in zip(files, footers, strict=True)
    ]


def _current_files(table: IcebergTable) -> dict[str, DataFile]:
    snapshot = table.current_snapshot()
    if snapshot is None:
        return {}
    out = {}
    for manifest in snapshot.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            out[entry.data_file.file_path] = entry.data_file
    return out


def _set_name_mapping(tx: Transaction) -> None:
    # tablelog's Parquet files carry no field ids: readers match columns by name.
    mapping = tx.table_metadata.schema().name_mapping.model_dump_json()
    tx.set_properties({"schema.name-mapping.default": mapping})


def _partitioned(table: IcebergTable) -> bool:
    return not table.spec().is_unpartitioned()


def to_iceberg(
    path: str,
    *,
    root: Root = None,
    catalog: str | Catalog,
    identifier: str | Sequence[str],
    version: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    location: str | None = None,
) -> IcebergExport:
    """Register version ``version`` (default latest) of ``path`` as an Iceberg table.

    Parameters
    ----------
    catalog:
        A SQLAlchemy URL of a pyiceberg SQL catalog (``"sqlite:////abs/catalog.db"``,
        ``"postgresql+psycopg://…"``; its tables are created on first use) — tablelog then
        passes the store's S3 endpoint and credentials to pyiceberg's FileIO — or any
        pyiceberg ``Catalog`` object (REST, Glue, Hive, …), whose own FileIO settings must
        reach the store.
    identifier:
        ``"namespace.table"`` (or a tuple). The namespace is created if missing. An
        existing table must have been exported from the same ``path``.
    location:
        Where Iceberg metadata goes; default ``<root>/_iceberg/<namespace>/<table>``.

    Returns
    -------
    IcebergExport
        The Iceberg snapshot committed (``operation="none"`` if the version was already
        the current snapshot's content).
    """
    _require_pyiceberg()
    ref = open_table(path, root=root, storage_options=storage_options)
    try:
        v = ref.resolve(version=version)
    except NotFoundError:
        shards = ref.sharded(version=version)
        if shards is None:
            raise
        return _to_iceberg_union(ref, shards, catalog, identifier, location)
    state = load_version(ref, v)
    store = ref.store
    if not isinstance(store, LocalStore) and not store.full_url("").startswith(("s3://", "s3a://")):
        raise TablelogError(
            f"Iceberg engines cannot read objects of {store.url}: export from a local folder "
            "or an S3 root"
        )
    namespace, name = _split_identifier(identifier)
    ident = ".".join((*namespace, name))
    tagged = tags_increments(state, ref.key)
    files = _plan_files(ref, state, tagged=tagged)
    # Partitioned by _increment unless every object stores it (all compacted).
    partitioned = tagged and (not files or any(f.increment is not None for f in files))
    cat = _open_catalog(catalog, store)
    props = {
        _PATH_PROP: ref.path,
        _VERSION_PROP: str(v),
        _DIGEST_PROP: str(state.digest),
    }
    from pyiceberg.exceptions import NoSuchTableError

    try:
        table: IcebergTable | None = cat.load_table(ident)
    except NoSuchTableError:
        table = None
    if table is None:
        return _create(
            cat,
            ident,
            namespace,
            name,
            ref.path,
            state,
            files,
            props,
            location,
            store,
            partitioned=partitioned,
            tagged=tagged,
        )
    return _update(
        table, ident, ref.path, state, files, props, partitioned=partitioned, tagged=tagged
    )


def _union_schema(shards: list[tuple[str, TableHandle, TableState]], path: str) -> TableState:
    """A state whose schema is the shards' columns by name (first seen first); a column
    typed differently in two shards is refused."""
    columns: dict[str, Any] = {}
    for shard, _, state in shards:
        for c in state.schema:
            seen = columns.setdefault(c.name, (shard, c))
            if seen[1].arrow != c.arrow:
                raise TablelogError(
                    f"{path}: column {c.name!r} is {seen[1].arrow} in shard {seen[0]} and "
                    f"{c.arrow} in shard {shard}; Iceberg needs one type. Export the shards "
                    "one by one (their paths), or log one type"
                )
    return TableState(version=-1, schema=tuple(c for _, c in columns.values()))


def _to_iceberg_union(
    ref: TableRef,
    shards: list[tuple[str, TableHandle, TableState]],
    catalog: str | Catalog,
    identifier: str | Sequence[str],
    location: str | None,
) -> IcebergExport:
    store = ref.store
    if not isinstance(store, LocalStore) and not store.full_url("").startswith(("s3://", "s3a://")):
        raise TablelogError(
            f"Iceberg engines cannot read objects of {store.url}: export from a local folder "
            "or an S3 root"
        )
    namespace, name = _split_identifier(identifier)
    ident = ".".join((*namespace, name))
    tagged = all(tags_increments(state, sref.key) for _, sref, state in shards)
    files = [
        _File(f.url, f.object, f.increment, f.rows, shard)
        for shard, sref, state in shards
        for f in _plan_files(sref, state, tagged=tagged)
    ]
    stored = [f.increment is None for f in files]
    if tagged and any(stored) and not all(stored):
        compacted = sorted({f.shard for f in files if f.increment is None and f.shard})
        raise TablelogError(
            f"{ref.path}: shard(s) {compacted[:5]} are compacted (_increment stored in the "
            "objects) and others are not; one Iceberg table partitions all or none by "
            f"_increment. Run `tablelog compact {ref.path}` (compacts every shard), then export"
        )
    by_increment = tagged and not all(stored)
    union = _union_schema(shards, ref.path)
    digest = hashlib.sha256(
        "".join(f"{s}:{st.digest};" for s, _, st in shards).encode()
    ).hexdigest()
    props = {
        _PATH_PROP: ref.path,
        _VERSION_PROP: json.dumps({s: st.version for s, _, st in shards}, sort_keys=True),
        _DIGEST_PROP: digest,
    }
    cat = _open_catalog(catalog, store)
    spec = (INCREMENT_COLUMN, SHARD_COLUMN) if by_increment else (SHARD_COLUMN,)
    from pyiceberg.exceptions import NoSuchTableError

    try:
        table: IcebergTable | None = cat.load_table(ident)
    except NoSuchTableError:
        table = None
    rows = sum(st.rows for _, _, st in shards)
    if table is None:
        cat.create_namespace_if_not_exists(namespace)
        where = location or _location(store, namespace, name)
        tx = cat.create_table_transaction(
            ident,
            schema=_union_arrow_schema(union, ref.path, tagged=tagged),
            location=where,
            properties={_PATH_PROP: ref.path},
        )
        with tx.update_spec() as update:
            for column in spec:
                update.add_identity(column)
        _set_name_mapping(tx)
        from pyiceberg.io import load_file_io

        data_files = _data_files(load_file_io(cat.properties, where), tx, files, ref.path)
        if data_files:
            with tx.update_snapshot(snapshot_properties=props).fast_append() as append:
                for df in data_files:
                    append.append_data_file(df)
        table = tx.commit_transaction()
        return _union_result(table, ident, ref.path, "create", len(data_files), 0, files, rows)
    source = table.properties.get(_PATH_PROP)
    have = tuple(f.name for f in table.spec().fields)
    if source != ref.path or have != spec:
        raise TablelogError(
            f"Iceberg table {ident} was not exported from all shards of {ref.path} as they "
            f"are now (its {_PATH_PROP} is {source!r}, partitioned by {list(have)}, needs "
            f"{list(spec)}); export it to a new identifier"
        )
    current = _current_files(table)
    wanted = {f.url for f in files}
    new = [f for f in files if f.url not in current]
    gone = [df for url, df in current.items() if url not in wanted]
    if not new and not gone:
        return _union_result(table, ident, ref.path, "none", 0, 0, files, rows)
    with table.transaction() as utx:
        with utx.update_schema() as update:
            update.union_by_name(_union_arrow_schema(union, ref.path, tagged=tagged))
        _set_name_mapping(utx)
        data_files = _data_files(table.io, utx, new, ref.path)
        snap = utx.update_snapshot(snapshot_properties=props)
        producer = snap.overwrite() if gone else snap.fast_append()
        with producer as p:
            for df in gone:
                p.delete_data_file(df)
            for df in data_files:
                p.append_data_file(df)
    table = table.refresh()
    operation = "overwrite" if gone else "append"
    return _union_result(table, ident, ref.path, operation, len(new), len(gone), files, rows)


def _union_arrow_schema(union: TableState, path: str, *, tagged: bool) -> pa.Schema:
    schema = _arrow_schema(union, path, tagged=tagged)
    return schema.append(pa.field(SHARD_COLUMN, pa.string()))


def _union_result(
    table: IcebergTable,
    ident: str,
    path: str,
    operation: str,
    added: int,
    removed: int,
    files: list[_File],
    rows: int,
) -> IcebergExport:
    snapshot = table.current_snapshot()
    return IcebergExport(
        identifier=ident,
        path=path,
        version=-1,
        location=table.location(),
        operation=operation,
        snapshot_id=snapshot.snapshot_id if snapshot is not None else None,
        added_files=added,
        removed_files=removed,
        data_files=len(files),
        rows=rows,
        metadata_location=table.metadata_location,
    )


def _create(
    cat: Catalog,
    ident: str,
    namespace: tuple[str, ...],
    name: str,
    path: str,
    state: TableState,
    files: list[_File],
    props: dict[str, str],
    location: str | None,
    store: Store,
    *,
    partitioned: bool,
    tagged: bool,
) -> IcebergExport:
    cat.create_namespace_if_not_exists(namespace)
    where = location or _location(store, namespace, name)
    tx = cat.create_table_transaction(
        ident,
        schema=_arrow_schema(state, path, tagged=tagged),
        location=where,
        properties={_PATH_PROP: path},
    )
    if partitioned:
        with tx.update_spec() as spec:
            spec.add_identity(INCREMENT_COLUMN)
    _set_name_mapping(tx)
    from pyiceberg.io import load_file_io

    data_files = _data_files(load_file_io(cat.properties, where), tx, files, path)
    if data_files:
        with tx.update_snapshot(snapshot_properties=props).fast_append() as append:
            for df in data_files:
                append.append_data_file(df)
    table = tx.commit_transaction()
    return _result(table, ident, path, state, "create", len(data_files), 0)


def _update(
    table: IcebergTable,
    ident: str,
    path: str,
    state: TableState,
    files: list[_File],
    props: dict[str, str],
    *,
    partitioned: bool,
    tagged: bool,
) -> IcebergExport:
    source = table.properties.get(_PATH_PROP)
    if source != path:
        raise TablelogError(
            f"Iceberg table {ident} was not exported from {path} (its {_PATH_PROP} is "
            f"{source!r}); choose another identifier"
        )
    if _partitioned(table) != partitioned:
        raise TablelogError(
            f"Iceberg table {ident} is {'' if _partitioned(table) else 'not '}partitioned by "
            f"_increment but {path} version {state.version} needs it "
            f"{'' if partitioned else 'not '}to be (the table was compacted); export it to a "
            "new identifier"
        )
    current = _current_files(table)
    wanted = {f.url for f in files}
    new = [f for f in files if f.url not in current]
    gone = [df for url, df in current.items() if url not in wanted]
    if not new and not gone:
        return _result(table, ident, path, state, "none", 0, 0)
    with table.transaction() as tx:
        try:
            with tx.update_schema() as update:
                update.union_by_name(_arrow_schema(state, path, tagged=tagged))
        except ValueError as e:
            raise TablelogError(
                f"the schema of {path} version {state.version} cannot evolve Iceberg table "
                f"{ident}'s ({e}); export it to a new identifier"
            ) from e
        _set_name_mapping(tx)
        data_files = _data_files(table.io, tx, new, path)
        snap = tx.update_snapshot(snapshot_properties=props)
        producer = snap.overwrite() if gone else snap.fast_append()
        with producer as p:
            for df in gone:
                p.delete_data_file(df)
            for df in data_files:
                p.append_data_file(df)
    table = table.refresh()
    return _result(
        table, ident, path, state, "overwrite" if gone else "append", len(new), len(gone)
    )


def _result(
    table: IcebergTable,
    ident: str,
    path: str,
    state: TableState,
    operation: str,
    added: int,
    removed: int,
) -> IcebergExport:
    snapshot = table.current_snapshot()
    return IcebergExport(
        identifier=ident,
        path=path,
        version=state.version,
        location=table.location(),
        operation=operation,
        snapshot_id=snapshot.snapshot_id if snapshot is not None else None,
        added_files=added,
        removed_files=removed,
        data_files=len(state.fragments),
        rows=state.rows,
        metadata_location=table.metadata_location,
    )


__all__ = ["EXTRA", "IcebergExport", "iceberg_io_properties", "to_iceberg"]
