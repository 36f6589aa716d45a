"""A store in a local folder: create-if-absent is ``os.link`` of a finished temp file."""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from tablelog.errors import NotFoundError
from tablelog.ids import random_hex
from tablelog.objects.store import Capabilities, Store


class LocalStore(Store):
    """Objects as files below ``root``; readers open them by absolute path."""

    capabilities = Capabilities(conditional_create=True, mtime=True)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as e:
            raise NotFoundError(f"{self._path(key)} does not exist") from e

    def get_range(self, key: str, start: int, end: int) -> bytes:
        try:
            with open(f"{self.url}/{key}", "rb") as f:
                f.seek(start)
                return f.read(max(end - start, 0))
        except FileNotFoundError as e:
            raise NotFoundError(f"{self._path(key)} does not exist") from e

    def _write_temp(self, path: str, data: bytes) -> str:
        """``data`` in a new synced temp file beside ``path`` (whose name it returns).

        String paths and :func:`random_hex` rather than pathlib and uuid4: this runs
        twice per commit.
        """
        parent = os.path.dirname(path)
        tmp = f"{parent}/.tmp-{random_hex()}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL  # (never another writer's temp file)
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileNotFoundError:  # a new folder (or one removed since)
            os.makedirs(parent, exist_ok=True)
            fd = os.open(tmp, flags, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            _unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def put(self, key: str, data: bytes) -> None:
        path = f"{self.url}/{key}"
        tmp = self._write_temp(path, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = f"{self.url}/{key}"
        if os.path.exists(path):
            return False
        tmp = self._write_temp(path, data)
        try:
            # link() fails if the name exists: readers never see a partial file.
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            _unlink(tmp)

    def exists(self, key: str) -> bool:
        return os.path.exists(f"{self.url}/{key}")  # (no Path: probes are frequent)

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix)
        if not base.exists():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                yield Path(dirpath, name).relative_to(self.root).as_posix()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def mtime(self, key: str) -> float:
        return self.stat(key)[0]

    def stat(self, key: str) -> tuple[float, int | None]:
        try:
            st = self._path(key).stat()
        except FileNotFoundError as e:
            raise NotFoundError(f"{self._path(key)} does not exist") from e
        return st.st_mtime, st.st_size

    def temp_keys(self, prefixes: Sequence[str]) -> builtins.list[str]:
        """The ``.tmp-*`` files of writers that crashed between writing and renaming."""
        out: builtins.list[str] = []
        for top in prefixes:
            for dirpath, _dirs, names in os.walk(self.root / top):
                rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
                out.extend(f"{rel}/{n}" for n in names if n.startswith(".tmp-"))
        return out

    def full_url(self, key: str) -> str:
        return f"{self.url}/{key}"

    def root_exists(self) -> bool:
        return self.root.is_dir()


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
