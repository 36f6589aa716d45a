"""The test harness's own promises (tests/conftest.py): native code (aws-sdk-cpp under
pyarrow, curl, Polars' Rust) sees the refusing proxy and no AWS identity, and a test's
environment changes never grow or shrink C's environ (the getenv/setenv race)."""

from __future__ import annotations

import ctypes
import os

import pytest

DEAD_PROXY = "http://127.0.0.1:9"  # conftest's refusing proxy

_libc = ctypes.CDLL(None)
_libc.getenv.restype = ctypes.c_char_p
_libc.getenv.argtypes = [ctypes.c_char_p]
_environ = ctypes.POINTER(ctypes.c_char_p).in_dll(_libc, "environ")


def _native(name: str) -> str | None:
    value = _libc.getenv(name.encode())
    return None if value is None else value.decode()


def _native_count() -> int:
    n = 0
    while _environ[n] is not None:
        n += 1
    return n


def test_native_code_sees_the_refusing_proxy_and_no_identity() -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy"):
        assert _native(name) == DEAD_PROXY
    assert "127.0.0.1" in (_native("NO_PROXY") or "")
    assert _native("AWS_EC2_METADATA_DISABLED") == "true"
    assert not os.path.exists(_native("AWS_CONFIG_FILE") or "")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        assert _native(name) in (None, "")
        assert name not in os.environ


def test_environment_changes_never_resize_c_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _native_count()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-seen-by-aws-sdk-cpp")
    assert _native("AWS_ACCESS_KEY_ID") == "key-seen-by-aws-sdk-cpp"
    monkeypatch.setenv("TABLELOG_ISOLATION_PROBE", "python-only")
    assert os.environ["TABLELOG_ISOLATION_PROBE"] == "python-only"
    assert _native("TABLELOG_ISOLATION_PROBE") is None
    assert _native_count() == before
    monkeypatch.undo()
    assert _native("AWS_ACCESS_KEY_ID") == ""
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    assert _native_count() == before
