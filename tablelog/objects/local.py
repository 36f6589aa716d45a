"""A store in a local folder: create-if-absent is ``os.link`` of a finished temp file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from tablelog.errors import NotFoundError
from tablelog.objects.store import Store


class LocalStore(Store):
    """Objects as files below ``root``; readers open them by absolute path."""

    supports_conditional_create = True

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

    def _write_temp(self, path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".tmp-{uuid.uuid4().hex}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return tmp

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = self._write_temp(path, data)
        os.replace(tmp, path)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        if path.exists():
            return False
        tmp = self._write_temp(path, data)
        try:
            # link() fails if the name exists: readers never see a partial file.
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

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
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError as e:
            raise NotFoundError(f"{self._path(key)} does not exist") from e

    def full_url(self, key: str) -> str:
        return f"{self.url}/{key}"
