"""A store over any fsspec filesystem; S3 (s3fs) gets true create-if-absent."""

from __future__ import annotations

import asyncio
import builtins
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import fsspec
import fsspec.asyn

from tablelog.errors import NotFoundError, UnsafeStoreError
from tablelog.objects import deadline
from tablelog.objects.errors import (
    is_not_found,
    is_precondition_failure,
    is_transient,
    translate,
)
from tablelog.objects.s3options import object_store_options
from tablelog.objects.store import Capabilities, Store

#: Protocols whose ``pipe_file(mode="create")`` is a real conditional write.
_ATOMIC_CREATE = frozenset({"s3", "s3a"})
#: Part size for uploads; s3fs switches to multipart at twice this size.
MULTIPART_CHUNK = 16 * 1024 * 1024
PROBE_PREFIX = "_tablelog/probes"
#: Seconds to connect, and to wait for each read of a reply (botocore's settings; the
#: caller's ``config_kwargs`` win). One request never takes longer than their sum.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0
#: Attempts of an idempotent operation outside a deadline (readers); inside one, the
#: caller's loop retries (module ``deadline``).
READ_ATTEMPTS = 4

R = TypeVar("R")


class FsspecStore(Store):
    """Objects below ``protocol://path`` of an fsspec filesystem."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        protocol, _, path = url.partition("://")
        self.protocol = protocol
        self._root = path.rstrip("/") if protocol in ("local", "file") else path.strip("/")
        self.url = f"{protocol}://{self._root}"
        self._options = dict(storage_options or {})
        opts = dict(self._options)
        if protocol in _ATOMIC_CREATE:
            # Listing caches would make a stale reader think a version is missing.
            opts.setdefault("use_listings_cache", False)
            # fsspec caches instances by their arguments, not by the environment they
            # read (AWS_ENDPOINT_URL, keys): a cached instance could talk to another server.
            opts.setdefault("skip_instance_cache", True)
            # One retry budget (module ``deadline``): botocore makes one attempt per
            # request, with bounded timeouts, and s3fs does not retry either.
            config = dict(opts.get("config_kwargs") or {})
            config["retries"] = {"total_max_attempts": 1}
            config.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
            config.setdefault("read_timeout", READ_TIMEOUT_S)
            opts["config_kwargs"] = config
        if protocol in ("local", "file"):
            opts.setdefault("auto_mkdir", True)
        self._fs: Any = fsspec.filesystem(protocol, **opts)
        if protocol in _ATOMIC_CREATE:
            self._fs.retries = 1  # s3fs' own retry loop: one call
            cfg = opts["config_kwargs"]
            self.request_timeout = float(cfg["connect_timeout"]) + float(cfg["read_timeout"])
        else:
            self.request_timeout = 0.0
        s3 = protocol in _ATOMIC_CREATE
        self.capabilities = Capabilities(
            conditional_create=s3,
            ordered_listing=s3,  # ListObjectsV2 with StartAfter
            parallel_heads=s3,
            mtime=True,
            parallel_uploads=protocol not in ("local", "file"),
        )
        self.remote = protocol not in ("local", "file")
        self._probed: bool | None = None
        self._reader_options: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"FsspecStore({self.url!r})"

    @property
    def options(self) -> Mapping[str, Any]:
        """The storage options this store was opened with (may hold keys: never
        print them)."""
        return self._options

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}" if self._root else key

    def full_url(self, key: str) -> str:
        if self.protocol in ("local", "file"):
            return self._path(key)
        return f"{self.protocol}://{self._path(key)}"

    def _call(self, fn: Callable[[], R], *, retry: bool = True) -> R:
        """``fn()``: one request inside a deadline (its caller retries); outside one,
        an idempotent operation (``retry``) is tried up to ``READ_ATTEMPTS`` times."""
        inside = deadline.current() is not None
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as e:
                attempt += 1
                if inside or not retry or attempt >= READ_ATTEMPTS or not is_transient(e):
                    raise
            time.sleep(0.1 * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))

    def _read_kwargs(self) -> dict[str, Any]:
        # s3fs sends a HEAD before every GET unless told to read in one request.
        return {"max_concurrency": 1} if self.protocol in _ATOMIC_CREATE else {}

    def get(self, key: str) -> bytes:
        try:
            path, kw = self._path(key), self._read_kwargs()
            return bytes(self._call(lambda: self._fs.cat_file(path, **kw)))
        except Exception as e:
            raise translate(e, url=self.full_url(key), action="read") from e

    def get_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:
            path = self._path(key)  # (S3: one GET with a Range header, no HEAD first)
            return bytes(self._call(lambda: self._fs.cat_file(path, start=start, end=end)))
        except Exception as e:
            raise translate(e, url=self.full_url(key), action="read") from e

    def get_many(self, keys: builtins.list[str]) -> builtins.list[bytes]:
        if len(keys) <= 1:
            return [self.get(k) for k in keys]
        out: builtins.list[bytes] = []
        for key, value in zip(keys, self._cat_many(keys), strict=True):
            if isinstance(value, BaseException) or value is None:
                exc = (
                    value
                    if isinstance(value, BaseException)
                    else FileNotFoundError(self._path(key))
                )
                raise translate(exc, url=self.full_url(key), action="read") from exc
            out.append(value)
        return out

    def get_many_or_none(self, keys: builtins.list[str]) -> builtins.list[bytes | None]:
        if len(keys) <= 1:
            return super().get_many_or_none(keys)
        out: builtins.list[bytes | None] = []
        for key, value in zip(keys, self._cat_many(keys), strict=True):
            if value is None or (isinstance(value, BaseException) and is_not_found(value)):
                out.append(None)
            elif isinstance(value, BaseException):
                raise translate(value, url=self.full_url(key), action="read") from value
            else:
                out.append(value)
        return out

    def _cat_many(self, keys: builtins.list[str]) -> builtins.list[bytes | BaseException | None]:
        """The bytes of each key (fetched in parallel), or the error its fetch raised."""
        paths = [self._path(k) for k in keys]
        try:
            kw = self._read_kwargs()
            found = self._call(lambda: self._fs.cat(paths, on_error="return", **kw))
        except Exception as e:
            raise translate(e, url=self.url, action="read manifests from") from e
        out: builtins.list[bytes | BaseException | None] = []
        for path in paths:
            value = found.get(path, found.get(self._fs._strip_protocol(path)))
            out.append(value if value is None or isinstance(value, BaseException) else bytes(value))
        return out

    def put(self, key: str, data: bytes) -> None:
        try:
            self._call(lambda: self._fs.pipe_file(self._path(key), data))
        except Exception as e:
            raise translate(e, url=self.full_url(key), action="write") from e

    def put_if_absent(self, key: str, data: bytes) -> bool:
        if not self.capabilities.conditional_create:
            # fsspec's generic mode="create" is check-then-write; callers that need
            # atomicity check capabilities.conditional_create and refuse first.
            if self.exists(key):
                return False
            self.put(key, data)
            return True
        try:
            # If-None-Match rides on PutObject, or on CompleteMultipartUpload for
            # objects of 2 * MULTIPART_CHUNK and more.
            # Never retried here: a create whose reply was lost is resolved by the caller.
            self._call(
                lambda: self._fs.pipe_file(
                    self._path(key), data, mode="create", chunksize=MULTIPART_CHUNK
                ),
                retry=False,
            )
            return True
        except Exception as e:
            if is_precondition_failure(e):
                return False
            raise translate(e, url=self.full_url(key), action="create") from e

    def exists(self, key: str) -> bool:
        try:
            if self.protocol in _ATOMIC_CREATE:
                # One HEAD; s3fs' exists() adds a LIST on a miss to look for a "directory".
                bucket, object_key, _ = self._fs.split_path(self._path(key))

                def head() -> bool:
                    try:
                        self._fs.call_s3("head_object", Bucket=bucket, Key=object_key)
                        return True
                    except FileNotFoundError:
                        return False

                return self._call(head)
            return bool(self._call(lambda: self._fs.exists(self._path(key))))
        except Exception as e:
            raise translate(e, url=self.full_url(key), action="check") from e

    def exists_many(self, keys: builtins.list[str]) -> builtins.list[bool]:
        if not self.capabilities.parallel_heads or len(keys) <= 1:
            return [self.exists(k) for k in keys]

        async def head(key: str) -> bool:
            bucket, object_key, _ = self._fs.split_path(self._path(key))
            try:
                await self._fs._call_s3("head_object", Bucket=bucket, Key=object_key)
                return True
            except FileNotFoundError:
                return False

        async def heads() -> builtins.list[bool | BaseException]:
            return await asyncio.gather(*(head(k) for k in keys), return_exceptions=True)

        try:
            found = self._call(lambda: fsspec.asyn.sync(self._fs.loop, heads))
        except Exception as e:
            raise translate(e, url=self.url, action="check") from e
        out: builtins.list[bool] = []
        for key, value in zip(keys, found, strict=True):
            if isinstance(value, BaseException):
                raise translate(value, url=self.full_url(key), action="check") from value
            out.append(value)
        return out

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix).rstrip("/")
        try:
            found = self._call(lambda: self._fs.find(base))
        except Exception as e:
            if is_not_found(e):
                return
            raise translate(e, url=self.full_url(prefix), action="list") from e
        strip = len(self._fs._strip_protocol(self._root).rstrip("/")) + 1 if self._root else 0
        for p in found:
            key = str(p)[strip:]
            # Some servers list an emptied "directory" as a key of its own name.
            if key.startswith(prefix) and key != prefix.rstrip("/"):
                yield key

    def list_page(
        self, prefix: str, *, start_after: str | None = None, max_keys: int = 1000
    ) -> tuple[builtins.list[str], bool]:
        entries, more = self.list_page_etags(prefix, start_after=start_after, max_keys=max_keys)
        return [key for key, _ in entries], more

    def list_page_etags(
        self, prefix: str, *, start_after: str | None = None, max_keys: int = 1000
    ) -> tuple[builtins.list[tuple[str, str]], bool]:
        if not self.capabilities.ordered_listing:
            raise self._unsupported("an ordered listing (list_page)")
        bucket, key_prefix, _ = self._fs.split_path(self._path(prefix))
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": key_prefix, "MaxKeys": max_keys}
        if start_after is not None:
            kwargs["StartAfter"] = self._fs.split_path(self._path(start_after))[1]
        try:
            reply = self._call(lambda: self._fs.call_s3("list_objects_v2", **kwargs))
        except Exception as e:
            raise translate(e, url=self.full_url(prefix), action="list") from e
        strip = len(key_prefix) - len(prefix)
        entries = [
            (str(c["Key"])[strip:], str(c.get("ETag") or "").strip('"').lower())
            for c in reply.get("Contents", [])
        ]
        return entries, bool(reply.get("IsTruncated", False))

    def delete(self, key: str) -> None:
        try:
            self._call(lambda: self._fs.rm_file(self._path(key)))
        except Exception as e:
            if is_not_found(e):
                return
            raise translate(e, url=self.full_url(key), action="delete") from e

    def mtime(self, key: str) -> float:
        return self.stat(key)[0]

    def stat(self, key: str) -> tuple[float, int | None]:
        try:
            info = self._call(lambda: self._fs.info(self._path(key)))
        except Exception as e:
            raise translate(e, url=self.full_url(key), action="stat") from e
        modified = info.get("LastModified") or info.get("mtime") or info.get("created")
        if modified is None:
            raise NotFoundError(f"{self.full_url(key)} has no modification time")
        stamp = modified.timestamp() if hasattr(modified, "timestamp") else modified
        size = info.get("size")
        return float(stamp), None if size is None else int(size)

    def root_exists(self) -> bool:
        try:
            if self.protocol in _ATOMIC_CREATE:
                # The bucket only: below it, a "folder" exists once it holds an object.
                bucket = self._root.split("/", 1)[0]
                try:
                    self._fs.call_s3("head_bucket", Bucket=bucket)
                    return True
                except FileNotFoundError:
                    return False
            return not self._root or bool(self._fs.exists(self._root))
        except Exception as e:
            raise translate(e, url=self.url, action="check") from e

    def reader_options(self) -> Mapping[str, Any] | None:
        if self.protocol not in _ATOMIC_CREATE:
            return None
        # Resolved once per store (~10 ms: botocore reads the AWS config); open_store
        # keys its cached stores by the AWS_* environment, so a change gets a new one.
        if self._reader_options is None:
            self._reader_options = object_store_options(self._options)
        return dict(self._reader_options)

    def check_conditional_create(self) -> None:
        """Prove once per store that create-if-absent is honoured, or raise.

        Writes a tiny probe object twice under ``_tablelog/probes/``: the second
        create must be refused. The answer is cached on this store.
        """
        if self._probed is None and not self.capabilities.conditional_create:
            self._probed = False
        if self._probed is None:
            key = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
            first = self.put_if_absent(key, b"probe")
            second = self.put_if_absent(key, b"probe-again") if first else True
            self._probed = first and not second
        if not self._probed:
            raise UnsafeStoreError(
                f"{self.url} ({self.protocol}) does not honour create-if-absent "
                "(If-None-Match: *), so two writers could overwrite each other's versions. "
                "Use a store that does (S3, MinIO, SeaweedFS, a local folder), or pass "
                "single_writer=True to tablelog.init if only one process ever writes here."
            )
