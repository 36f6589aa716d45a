"""Golden buckets: tables written by an earlier release read back exactly as recorded.

Each ``format<N>/`` folder holds a bucket written once by the code of format version N
(``make_golden.py``) and ``expected.json``, what every read of it returned then. Today's
readers must give the same answers, on a local folder and on a real S3 server, and must
leave the bucket untouched. A failure here means a reader changed what an old bucket
means: a format break, not a test to regenerate.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from make_golden import reads
from where import Where

HERE = Path(__file__).parent
FORMATS = sorted(p.name for p in HERE.glob("format*") if (p / "expected.json").exists())


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _upload(folder: Path, where: Where) -> None:
    import fsspec

    fs = fsspec.filesystem("s3", **(where.storage_options or {}))
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            fs.pipe_file(f"{where.root[len('s3://') :]}/{p.relative_to(folder)}", p.read_bytes())


def test_there_is_a_golden_bucket() -> None:
    assert FORMATS == ["format1", "format2"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["local", pytest.param("moto", marks=pytest.mark.s3)])
def test_golden_bucket_reads_as_recorded(
    fmt: str, kind: str, tmp_path: Path, make_root: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = int(fmt.removeprefix("format"))
    source = HERE / fmt / "bucket"
    before = _tree_digest(source)
    expected = json.loads((HERE / fmt / "expected.json").read_text())
    if kind == "local":
        root = tmp_path / "bucket"
        shutil.copytree(source, root)
        got = reads(str(root), fmt=version)
        assert _tree_digest(root) == before, "reading changed the bucket"
    else:
        where = make_root(kind)  # type: ignore[operator]
        _upload(source, where)
        import tablelog

        tablelog.clear_caches()
        got = reads(where.root, where.storage_options, fmt=version)
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], name
    assert _tree_digest(source) == before


@pytest.mark.usefixtures("reader_before_format_2")
def test_a_reader_without_format_2_refuses_the_format_2_bucket(tmp_path: Path) -> None:
    import tablelog

    root = tmp_path / "bucket"
    shutil.copytree(HERE / "format2" / "bucket", root)
    tablelog.clear_caches()
    for key in ("incr", "_history", "long", "imm"):
        with pytest.raises(tablelog.FormatError, match="upgrade tablelog"):
            tablelog.scan(f"golden/run-a/{key}", root=str(root)).collect()
