"""Bad input: a clear error that names the problem, and the store left unchanged."""

from __future__ import annotations

import enum
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest

import tablelog
from tablelog.objects import open_store


def _snapshot(where: Any) -> dict[str, bytes]:
    store = open_store(where.root, storage_options=where.storage_options)
    return {k: store.get(k) for k in store.list("")}


def _logged_run(where: Any) -> tablelog.Run:
    run = where.init(id="bad", sync=True)
    t = tablelog.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    run.log({"ok": t, "loss": 0.5}, step=3)
    return run


class _Huge(enum.IntEnum):
    STEP = 2**63


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


CASES: dict[str, tuple[Callable[[tablelog.Run], Any], type[BaseException], str]] = {
    "step backwards": (
        lambda r: r.log({"loss": 1.0}, step=2),
        tablelog.RunError,
        "steps only move forward",
    ),
    "non-string key": (lambda r: r.log({1: 1.0}), ValueError, "must be a string"),
    "empty key": (lambda r: r.log({"": 1.0}), ValueError, "must not be empty"),
    "control character key": (lambda r: r.log({"a\x00b": 1.0}), ValueError, "control"),
    "lone surrogate key": (
        lambda r: r.log({"a\ud800": 1.0}),
        tablelog.InvalidNameError,
        "lone surrogate",
    ),
    "IntEnum step beyond int64": (
        lambda r: r.log({"loss": 1.0}, step=_Huge.STEP),
        tablelog.RunError,
        "at most",
    ),
    "10,000-character key": (lambda r: r.log({"k" * 10_000: 1.0}), ValueError, "limit"),
    "reserved key": (lambda r: r.log({"_history": 1.0}), ValueError, "reserved"),
    "unsupported scalar": (lambda r: r.log({"s": socket.socket}), tablelog.RunError, "type"),
    "not a dict": (lambda r: r.log([("a", 1)]), tablelog.RunError, "dict"),  # type: ignore[arg-type]
    "mode clash on a key": (
        lambda r: r.log({"ok": tablelog.Table(columns=["a"], data=[[2]], log_mode="MUTABLE")}),
        tablelog.CommitConflictError,
        "was logged as INCREMENTAL",
    ),
    "bad step type": (lambda r: r.log({"loss": 1.0}, step="7"), tablelog.RunError, "integer"),
    "step beyond int64": (
        lambda r: r.log({"loss": 1.0}, step=2**63),
        tablelog.RunError,
        "2\\*\\*63",
    ),
    "table at a step beyond int64": (
        lambda r: r.log(
            {"ok": tablelog.Table(columns=["a"], data=[[2]], log_mode="INCREMENTAL")}, step=2**63
        ),
        tablelog.RunError,
        "at most",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_log_calls_leave_the_store_unchanged(where: Any, case: str) -> None:
    call, error, match = CASES[case]
    run = _logged_run(where)
    before = _snapshot(where)
    with pytest.raises(error, match=match):
        call(run)
    assert _snapshot(where) == before


@pytest.mark.parametrize(
    ("project", "run_id", "match"),
    [
        ("a/b", None, "must not contain '/'"),
        ("..", None, "must not be"),
        ("p", "a\x00", "control character"),
        ("p", "a\udc80", "lone surrogate"),
        ("p", "x" * 10_000, "10000 characters"),
        ("p", "r/../../etc", "must not contain '/'"),
    ],
)
def test_bad_names_write_nothing(local: Any, project: str, run_id: str | None, match: str) -> None:
    with pytest.raises(tablelog.InvalidNameError, match=match):
        tablelog.init(project=project, id=run_id, root=local.root)
    assert _snapshot(local) == {}


def test_unicode_names_work(local: Any) -> None:
    with tablelog.init(project="プロジェクト", id="ラン", root=local.root) as run:
        run.log({"評価/予測": tablelog.Table(columns=["列"], data=[["値"]])})
    assert local.scan("プロジェクト/ラン/評価/予測").collect().to_dicts() == [{"列": "値"}]


def test_bad_values(local: Any) -> None:
    t = tablelog.Table(columns=["v"])
    with pytest.raises(TypeError, match="nested more than 64 levels"):
        t.add_data(_deep(2000))
    with pytest.raises(TypeError, match="socket"):
        t.add_data(socket.socket)
    t.add_data(float("inf"))
    t.add_data(float("nan"))
    with local.init(id="v") as run:
        run.log({"t": t, "inf": float("inf")})
    assert local.scan("p/v/t").collect()["v"].to_list() == [float("inf"), None]
    with pytest.raises(tablelog.RunError, match="JSON"):
        local.init(id="w", config={"x": float("nan")})


def test_unreadable_and_too_new_manifests(local: Any) -> None:
    with local.init(id="m") as run:
        run.log({"t": tablelog.Table(columns=["a"], data=[[1]])})
    store = open_store(local.root)
    (key,) = [k for k in store.list("") if k.endswith("00000000000000000000.json")]
    good = store.get(key)
    store.put(key, b'{"format_version": 1, "key": ')
    with pytest.raises(tablelog.FormatError, match="not valid JSON"):
        local.scan("p/m/t").collect()
    doc = json.loads(good)
    doc["format_version"] = 99
    store.put(key, json.dumps(doc).encode())
    with pytest.raises(tablelog.FormatError, match=r"format version 99.*upgrade tablelog"):
        local.scan("p/m/t")
