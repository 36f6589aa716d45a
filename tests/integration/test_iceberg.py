"""Export to Apache Iceberg without copying data; read back with pyiceberg and Polars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError

import tablelog
from tablelog.cli import main
from tablelog.format.chain import WRITE_FORMAT_VARIABLE
from tablelog.interop.iceberg import iceberg_io_properties
from tablelog.objects import open_store

KINDS = ["local", pytest.param("seaweedfs", marks=pytest.mark.s3)]


@pytest.fixture(autouse=True)
def _pyiceberg_planner(monkeypatch: pytest.MonkeyPatch) -> None:
    # Polars warns that its optional planner plugin is missing; pyiceberg plans instead.
    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")


def _catalog(where: Any, tmp_path: Path) -> tuple[str, SqlCatalog]:
    uri = f"sqlite:///{tmp_path / 'catalog.db'}"
    props = iceberg_io_properties(open_store(**where.kw()))
    return uri, SqlCatalog("tablelog", uri=uri, **props)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns)


def _check_rows(where: Any, catalog: SqlCatalog, ident: str, path: str, **at: Any) -> None:
    expected = _sorted(tablelog.scan(path, **where.kw(), **at).collect())
    table = catalog.load_table(ident)
    via_pyiceberg = pl.from_arrow(table.scan().to_arrow())
    assert isinstance(via_pyiceberg, pl.DataFrame)
    assert _sorted(via_pyiceberg).equals(expected)
    via_polars = pl.scan_iceberg(table, storage_options=_polars_options(where)).collect()
    assert _sorted(via_polars).select(expected.columns).equals(expected)


def _polars_options(where: Any) -> dict[str, str] | None:
    opts = open_store(**where.kw()).reader_options()
    return dict(opts) if opts else None


def _log_increments(where: Any, column: str, n: int) -> None:
    """Table p/r/eval: ``n`` INCREMENTAL logs of one row each, one version each (sync=True:
    no group commit in format 2)."""
    with where.init(id="r", sync=True) as run:
        t = tablelog.Table(columns=[column], log_mode="INCREMENTAL")
        for step in range(n):
            t.add_data(step)
            run.log({"eval": t}, step=step)


def _snapshot_files(catalog: SqlCatalog, ident: str) -> list[set[str]]:
    """The data file paths of each snapshot, oldest first."""
    table = catalog.load_table(ident)
    out = []
    for snap in table.snapshots():
        files = set()
        for manifest in snap.manifests(table.io):
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                files.add(entry.data_file.file_path)
        out.append(files)
    return out


@pytest.fixture
def write_format_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """New tables are written in format 2 even where the suite runs with
    ``$TABLELOG_WRITE_FORMAT=1``."""
    monkeypatch.delenv(WRITE_FORMAT_VARIABLE, raising=False)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("write_format_1")
def test_incremental_export_then_append_only_new_files(
    kind: str, make_root: Any, tmp_path: Path
) -> None:
    """Format 1: uncompacted objects do not store _increment, so the Iceberg table is
    partitioned by it and each data file carries its increment as the partition value."""
    _export_then_append(make_root(kind), kind, tmp_path, partitioned=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("write_format_2")
def test_format_2_incremental_export_then_append_only_new_files(
    kind: str, make_root: Any, tmp_path: Path
) -> None:
    """Format 2: every object stores _increment, so the Iceberg table is unpartitioned
    and the column is read from the files."""
    _export_then_append(make_root(kind), kind, tmp_path, partitioned=False)


def _export_then_append(where: Any, kind: str, tmp_path: Path, *, partitioned: bool) -> None:
    # sync=True: one version per log (format 2 would group logs that queue up).
    with where.init(id="r", sync=True) as run:
        t = tablelog.Table(columns=["i", "loss", "name", "ok"], log_mode="INCREMENTAL")
        for step in range(5):
            t.add_data(step, step / 3, f"n{step}", step % 2 == 0)
            t.add_data(step + 100, None, None, None)
            run.log({"eval": t}, step=step)
    uri, catalog = _catalog(where, tmp_path)

    first = tablelog.to_iceberg(
        "p/r/eval", **where.kw(), catalog=uri, identifier="ml.eval", version=2
    )
    assert (first.operation, first.version, first.added_files, first.rows) == ("create", 2, 3, 6)
    _check_rows(where, catalog, "ml.eval", "p/r/eval", version=2)
    table = catalog.load_table("ml.eval")
    assert [f.name for f in table.spec().fields] == (["_increment"] if partitioned else [])
    assert table.location().startswith(
        (where.root if kind != "local" else Path(where.root).resolve().as_uri()) + "/_iceberg/ml/"
    )

    # A pyiceberg Catalog object works as well as a URL (it brings its own FileIO settings).
    second = tablelog.to_iceberg("p/r/eval", **where.kw(), catalog=catalog, identifier="ml.eval")
    assert (second.operation, second.version, second.added_files) == ("append", 4, 2)
    _check_rows(where, catalog, "ml.eval", "p/r/eval")
    old, new = _snapshot_files(catalog, "ml.eval")
    urls_v2, _ = tablelog.files("p/r/eval", **where.kw(), version=2)
    urls_v4, _ = tablelog.files("p/r/eval", **where.kw())
    if kind == "local":
        urls_v2 = [Path(u).resolve().as_uri() for u in urls_v2]
        urls_v4 = [Path(u).resolve().as_uri() for u in urls_v4]
    assert old == set(urls_v2) and new == set(urls_v4)
    summary = catalog.load_table("ml.eval").current_snapshot().summary  # type: ignore[union-attr]
    assert summary["added-data-files"] == "2" and summary["tablelog.version"] == "4"
    assert summary.operation.value == "append"

    # Credentials reach pyiceberg's FileIO only, never the catalog or Iceberg metadata.
    table = catalog.load_table("ml.eval")
    with table.io.new_input(table.metadata_location).open() as f:
        metadata_json = f.read()
    assert b'"format-version":2' in metadata_json.replace(b" ", b"")
    if kind == "seaweedfs":
        secret = where.env["AWS_SECRET_ACCESS_KEY"].encode()
        assert secret not in metadata_json
        assert secret not in (tmp_path / "catalog.db").read_bytes()
    again = tablelog.to_iceberg("p/r/eval", **where.kw(), catalog=uri, identifier="ml.eval")
    assert again.operation == "none" and again.snapshot_id == second.snapshot_id
    assert len(catalog.load_table("ml.eval").snapshots()) == 2
    # Filtering on _increment (the partition column in format 1, stored in every object
    # in format 2) keeps exactly the increment's rows.
    only3 = catalog.load_table("ml.eval").scan(row_filter="_increment == 3").to_arrow()
    assert sorted(only3.column("i").to_pylist()) == [3, 103]


@pytest.mark.parametrize("kind", KINDS)
def test_immutable_relog_is_an_overwrite(kind: str, make_root: Any, tmp_path: Path) -> None:
    where = make_root(kind)
    with where.init(id="r") as run:
        run.log({"preds": tablelog.Table(columns=["a", "b"], data=[[1, "x"], [2, "y"]])}, step=0)
        run.log({"preds": tablelog.Table(columns=["a", "b"], data=[[3, "z"]])}, step=1)
    uri, catalog = _catalog(where, tmp_path)
    tablelog.to_iceberg("p/r/preds", **where.kw(), catalog=uri, identifier="ml.preds", version=0)
    _check_rows(where, catalog, "ml.preds", "p/r/preds", version=0)
    done = tablelog.to_iceberg("p/r/preds", **where.kw(), catalog=uri, identifier="ml.preds")
    assert (done.operation, done.added_files, done.removed_files) == ("overwrite", 1, 1)
    _check_rows(where, catalog, "ml.preds", "p/r/preds")
    assert catalog.load_table("ml.preds").spec().is_unpartitioned()
    # Going back to an older version is an overwrite too.
    back = tablelog.to_iceberg(
        "p/r/preds", **where.kw(), catalog=uri, identifier="ml.preds", version=0
    )
    assert back.operation == "overwrite"
    _check_rows(where, catalog, "ml.preds", "p/r/preds", version=0)


@pytest.mark.usefixtures("write_format_1")
def test_compacted_incremental_exports_unpartitioned(local: Any, tmp_path: Path) -> None:
    """Format 1: uncompacted versions export partitioned by _increment, a compacted one
    unpartitioned; the two cannot share an Iceberg table, nor one version mix them."""
    _log_increments(local, "i", 4)
    uri, catalog = _catalog(local, tmp_path)
    tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.before")
    tablelog.compact("p/r/eval", **local.kw())
    done = tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.after")
    assert done.added_files == 1
    assert catalog.load_table("ml.after").spec().is_unpartitioned()
    _check_rows(local, catalog, "ml.after", "p/r/eval")
    # The partitioned export of the uncompacted versions cannot take the compacted object.
    with pytest.raises(tablelog.TablelogError, match="new identifier"):
        tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.before")
    assert len(catalog.load_table("ml.before").snapshots()) == 1
    # A compacted object next to new, uncompacted increments: refused, nothing created.
    with tablelog.init(project="p", id="r", resume="must", root=local.root) as run:
        t2 = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        t2.add_data(99)
        run.log({"eval": t2}, step=9)
    with pytest.raises(tablelog.TablelogError, match="several increments"):
        tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.mixed")
    with pytest.raises(NoSuchTableError):
        catalog.load_table("ml.mixed")


@pytest.mark.usefixtures("write_format_2")
def test_format_2_compacted_incremental_exports_unpartitioned(local: Any, tmp_path: Path) -> None:
    """Format 2: before and after a compaction every object stores _increment, so both
    export unpartitioned into one Iceberg table, and new logs next to a compacted
    object export too."""
    _log_increments(local, "i", 4)
    uri, catalog = _catalog(local, tmp_path)
    before = tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.before")
    assert (before.operation, before.added_files) == ("create", 4)
    assert catalog.load_table("ml.before").spec().is_unpartitioned()
    _check_rows(local, catalog, "ml.before", "p/r/eval")
    tablelog.compact("p/r/eval", **local.kw())
    done = tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.after")
    assert done.added_files == 1
    assert catalog.load_table("ml.after").spec().is_unpartitioned()
    _check_rows(local, catalog, "ml.after", "p/r/eval")
    # The export of the uncompacted versions takes the compacted object in their place.
    moved = tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.before")
    assert (moved.operation, moved.added_files, moved.removed_files) == ("overwrite", 1, 4)
    _check_rows(local, catalog, "ml.before", "p/r/eval")
    # A compacted object next to new increments: exported as they are, unpartitioned.
    with tablelog.init(project="p", id="r", resume="must", root=local.root) as run:
        t2 = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        t2.add_data(99)
        run.log({"eval": t2}, step=9)
    mixed = tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.mixed")
    assert (mixed.operation, mixed.added_files, mixed.rows) == ("create", 2, 5)
    assert catalog.load_table("ml.mixed").spec().is_unpartitioned()
    _check_rows(local, catalog, "ml.mixed", "p/r/eval")
    only = catalog.load_table("ml.mixed").scan(row_filter="_increment == 4").to_arrow()
    assert only.column("i").to_pylist() == [99]
    later = tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.before")
    assert (later.operation, later.added_files) == ("append", 1)
    _check_rows(local, catalog, "ml.before", "p/r/eval")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("write_format_1")
def test_merged_fragments_export_as_the_objects_they_were_merged_from(
    kind: str, make_root: Any, tmp_path: Path
) -> None:
    """Format 1: a writer merged increments 1-31 at version 32 (docs/format.md, "Merged
    fragments"); the partitioned export registers their original objects, one increment
    each."""
    where = make_root(kind)
    _log_increments(where, "i", 40)
    uri, catalog = _catalog(where, tmp_path)
    done = tablelog.to_iceberg("p/r/eval", **where.kw(), catalog=uri, identifier="ml.eval")
    assert (done.operation, done.added_files, done.rows) == ("create", 40, 40)
    assert [f.name for f in catalog.load_table("ml.eval").spec().fields] == ["_increment"]
    _check_rows(where, catalog, "ml.eval", "p/r/eval")
    only = catalog.load_table("ml.eval").scan(row_filter="_increment == 17").to_arrow()
    assert only.column("i").to_pylist() == [17]
    # Version 20 (before the merge) listed the same objects: a re-export appends.
    early = tablelog.to_iceberg(
        "p/r/eval", **where.kw(), catalog=uri, identifier="ml.early", version=20
    )
    assert early.added_files == 21
    later = tablelog.to_iceberg("p/r/eval", **where.kw(), catalog=uri, identifier="ml.early")
    assert (later.operation, later.added_files) == ("append", 19)
    _check_rows(where, catalog, "ml.early", "p/r/eval")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("write_format_2")
def test_format_2_merged_fragments_export_as_they_are(
    kind: str, make_root: Any, tmp_path: Path
) -> None:
    """Format 2: the object a writer merged increments 1-31 into at version 32 stores
    their _increment, so the unpartitioned export registers it as it is."""
    where = make_root(kind)
    _log_increments(where, "i", 40)
    uri, catalog = _catalog(where, tmp_path)
    done = tablelog.to_iceberg("p/r/eval", **where.kw(), catalog=uri, identifier="ml.eval")
    # v0, the merge of 1-31, v32's own, v33-39
    assert (done.operation, done.added_files, done.rows) == ("create", 10, 40)
    assert catalog.load_table("ml.eval").spec().is_unpartitioned()
    _check_rows(where, catalog, "ml.eval", "p/r/eval")
    only = catalog.load_table("ml.eval").scan(row_filter="_increment == 17").to_arrow()
    assert only.column("i").to_pylist() == [17]
    # Version 20 (before the merge) listed 21 objects; the merge replaced 20 of them.
    early = tablelog.to_iceberg(
        "p/r/eval", **where.kw(), catalog=uri, identifier="ml.early", version=20
    )
    assert early.added_files == 21
    _check_rows(where, catalog, "ml.early", "p/r/eval", version=20)
    later = tablelog.to_iceberg("p/r/eval", **where.kw(), catalog=uri, identifier="ml.early")
    assert (later.operation, later.added_files, later.removed_files) == ("overwrite", 9, 20)
    _check_rows(where, catalog, "ml.early", "p/r/eval")


def test_refusals_name_the_problem(local: Any, tmp_path: Path) -> None:
    with local.init(id="r") as run:
        t = tablelog.Table(columns=["a"], data=[[1], [2]], log_mode="MUTABLE")
        run.log({"m": t}, step=0)
        t.add_column("b", [10, 20])
        run.log({"m": t}, step=1)
        run.log({"other": tablelog.Table(columns=["a"], data=[[1]])}, step=1)
    uri, catalog = _catalog(local, tmp_path)
    with pytest.raises(tablelog.TablelogError, match=r"2 objects .*tablelog compact"):
        tablelog.to_iceberg("p/r/m", **local.kw(), catalog=uri, identifier="ml.m")
    with pytest.raises(NoSuchTableError):
        catalog.load_table("ml.m")
    # Version 0 (one object per fragment) exports; compaction makes the latest exportable.
    tablelog.to_iceberg("p/r/m", **local.kw(), catalog=uri, identifier="ml.m", version=0)
    tablelog.compact("p/r/m", **local.kw(), min_fragments=1)
    with pytest.raises(tablelog.TablelogError, match=r"its tablelog\.path is .p/r/m."):
        tablelog.to_iceberg("p/r/other", **local.kw(), catalog=uri, identifier="ml.m")
    done = tablelog.to_iceberg("p/r/m", **local.kw(), catalog=uri, identifier="ml.m")
    assert done.operation == "overwrite"
    _check_rows(local, catalog, "ml.m", "p/r/m")
    with pytest.raises(ValueError, match=r"namespace\.table"):
        tablelog.to_iceberg("p/r/m", **local.kw(), catalog=uri, identifier="flat")
    with pytest.raises(ValueError, match="SQLAlchemy URL"):
        tablelog.to_iceberg("p/r/m", **local.kw(), catalog="catalog.db", identifier="a.b")
    with pytest.raises(tablelog.NotFoundError):
        tablelog.to_iceberg("p/r/m", **local.kw(), catalog=uri, identifier="a.b", version=9)
    with pytest.raises(tablelog.TablelogError, match="memory://"):
        mem = f"memory://ice-{os.getpid()}"
        with tablelog.init(project="p", id="r", root=mem) as run:
            run.log({"x": tablelog.Table(columns=["a"], data=[[1]])})
        tablelog.to_iceberg("p/r/x", root=mem, catalog=uri, identifier="a.b")


def test_types_iceberg_cannot_take_are_refused(
    local: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with local.init(id="r") as run:
        w = tablelog.Table(columns=["v"], log_mode="INCREMENTAL")
        w.add_data(1)
        run.log({"widen": w}, step=0)
        w.add_data(1.5)  # the column widens to double; the first object stays int64
        run.log({"widen": w}, step=1)
        run.log({"empty": tablelog.Table(columns=["a", "n"], data=[[1, None]])}, step=1)
    uri, catalog = _catalog(local, tmp_path)
    with pytest.raises(tablelog.TablelogError, match=r"v: optional double .* v: optional long"):
        tablelog.to_iceberg("p/r/widen", **local.kw(), catalog=uri, identifier="ml.w")
    assert capsys.readouterr().out == ""  # pyiceberg's mismatch table is not printed
    with pytest.raises(NoSuchTableError):
        catalog.load_table("ml.w")
    tablelog.compact("p/r/widen", **local.kw())
    tablelog.to_iceberg("p/r/widen", **local.kw(), catalog=uri, identifier="ml.w")
    _check_rows(local, catalog, "ml.w", "p/r/widen")
    with pytest.raises(tablelog.TablelogError, match=r"\['n'\] have no non-null value"):
        tablelog.to_iceberg("p/r/empty", **local.kw(), catalog=uri, identifier="ml.e")


def test_cli_and_missing_extra(
    local: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _log_increments(local, "a", 3)
    uri, catalog = _catalog(local, tmp_path)
    argv = ["--root", local.root, "iceberg", "p/r/eval", "--catalog", uri, "--identifier", "x.e"]
    assert main([*argv, "--version", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["operation"] == "create" and out["version"] == 0 and out["added_files"] == 1
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("append: x.e now holds p/r/eval version 2")
    _check_rows(local, catalog, "x.e", "p/r/eval")
    assert main([*argv[:-1], "bad"]) == 1
    assert "namespace.table" in capsys.readouterr().err

    # Without pyiceberg: an ImportError naming the extra, from the API and the CLI.
    script = textwrap.dedent(
        """
        import sys
        sys.modules["pyiceberg"] = None
        import tablelog
        from tablelog.cli import main
        try:
            tablelog.to_iceberg("p/r/eval", root=sys.argv[1], catalog=sys.argv[2], identifier="a.b")
        except ImportError as e:
            print("API:", e)
        code = main(["--root", sys.argv[1], "iceberg", "p/r/eval", "--catalog", sys.argv[2],
                     "--identifier", "a.b"])
        print("CLI exit", code)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, local.root, uri], capture_output=True, text=True, check=True
    )
    assert "API: exporting to Apache Iceberg needs" in proc.stdout
    assert "pip install 'tablelog[iceberg]'" in proc.stdout
    assert "CLI exit 1" in proc.stdout
    assert "pip install 'tablelog[iceberg]'" in proc.stderr


def test_catalog_url_password_never_reaches_the_error(local: Any) -> None:
    with local.init(id="pw", sync=True) as run:
        run.log({"t": tablelog.Table(columns=["a"], data=[[1]])})
    with pytest.raises(tablelog.TablelogError) as err:
        tablelog.to_iceberg(
            "p/pw/t",
            **local.kw(),
            catalog="postgresql://user:hunter2-secret@127.0.0.1:1/db",
            identifier="ns.t",
        )
    assert "hunter2" not in str(err.value)
    assert "postgresql://user:***@127.0.0.1:1/db" in str(err.value)


@pytest.mark.usefixtures("write_format_2")
def test_format_2_exports_unpartitioned_every_object_storing_its_increments(
    local: Any, tmp_path: Path
) -> None:
    """Format 2: every object of an INCREMENTAL table stores _increment
    (one log's, or a commit of several logs'), so the export is unpartitioned from the
    first log on, and a later export appends only the new objects."""
    import threading

    with local.init(id="r") as run:
        t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        t.add_data(0)
        run.log({"eval": t}, step=0)
        run.flush()  # version 0: one log, in an object of its own
        gate = threading.Event()
        run._worker.submit(gate.wait)
        for step in range(1, 6):  # version 1: five logs in one object
            t.add_data(step)
            run.log({"eval": t}, step=step)
        gate.set()
    uri, catalog = _catalog(local, tmp_path)
    first = tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.f2")
    assert first.added_files == 2
    assert catalog.load_table("ml.f2").spec().is_unpartitioned()
    _check_rows(local, catalog, "ml.f2", "p/r/eval")
    with local.init(id="r", resume="must") as run:
        t2 = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        t2.add_data(6)
        run.log({"eval": t2}, step=6)
    again = tablelog.to_iceberg("p/r/eval", **local.kw(), catalog=uri, identifier="ml.f2")
    assert again.added_files == 1
    _check_rows(local, catalog, "ml.f2", "p/r/eval")
