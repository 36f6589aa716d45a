"""fsspec/AWS settings -> Polars (object_store) storage_options, in one tested function."""

from __future__ import annotations

import pytest

from tablelog.objects.s3options import object_store_options


def test_explicit_s3fs_options() -> None:
    so = {
        "key": "K",
        "secret": "S",
        "token": "T",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"},
    }
    assert object_store_options(so, environ={}) == {
        "aws_access_key_id": "K",
        "aws_secret_access_key": "S",
        "aws_session_token": "T",
        "aws_region": "eu-west-1",
        "aws_endpoint_url": "http://127.0.0.1:9000",
        "aws_allow_http": "true",
        "aws_virtual_hosted_style_request": "false",
    }


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "EK",
        "AWS_SECRET_ACCESS_KEY": "ES",
        "AWS_ENDPOINT_URL": "https://minio.example:9000",
        "AWS_REGION": "ap-northeast-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = object_store_options(None)
    assert out["aws_access_key_id"] == "EK" and out["aws_secret_access_key"] == "ES"
    assert out["aws_endpoint_url"] == "https://minio.example:9000"
    assert "aws_allow_http" not in out
    assert out["aws_region"] == "ap-northeast-1"


def test_anonymous() -> None:
    assert object_store_options({"anon": True}, environ={})["aws_skip_signature"] == "true"
