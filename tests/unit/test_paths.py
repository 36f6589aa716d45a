"""Names can never escape their prefix or collide."""

from __future__ import annotations

import pytest

from tablelog import InvalidNameError
from tablelog.format import paths


@pytest.mark.parametrize(
    "key", ["Table Name", "eval/predictions", "予測/テーブル", "a%2Fb", "..", ".hidden", "a b/../c"]
)
def test_keys_encode_to_one_safe_segment(key: str) -> None:
    seg = paths.encode(key)
    assert "/" not in seg and not seg.startswith(".") and seg not in ("..", ".")
    assert paths.decode(seg) == key


def test_distinct_keys_never_merge() -> None:
    keys = ["a/b", "a%2Fb", "a_b", "a b", "a+b"]
    assert len({paths.encode(k) for k in keys}) == len(keys)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a/b", "must not contain '/'"),
        ("..", "must not be"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("x" * 10_000, "10000 characters"),
        (3, "must be a string"),
    ],
)
def test_bad_project_names(name: object, match: str) -> None:
    with pytest.raises(InvalidNameError, match=match):
        paths.check_segment_name("project", name)


def test_reserved_and_bad_keys() -> None:
    with pytest.raises(InvalidNameError, match="reserved"):
        paths.check_key("_history")
    with pytest.raises(InvalidNameError, match="control"):
        paths.check_key("a\tb")
    assert paths.check_key("ünïcode ✓") == "ünïcode ✓"


def test_version_names() -> None:
    key = paths.version_key("p", "r", "k", 7)
    assert key.endswith("versions/00000000000000000007.json")
    assert paths.parse_version_name("00000000000000000007.json") == 7
    assert paths.parse_version_name("7.json") is None


def test_length_limit_counts_the_encoded_name() -> None:
    with pytest.raises(InvalidNameError, match="once percent-encoded"):
        paths.check_key("é" * 100)
    assert paths.parse_version_name("٠" * 20 + ".json") is None
