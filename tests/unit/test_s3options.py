"""fsspec/AWS settings -> Polars (object_store) storage_options, in one tested function.

Where (endpoint, region) is botocore's resolution; who (credentials) is never resolved
here, so that no LazyFrame carries a secret the caller did not hand over."""

from __future__ import annotations

from pathlib import Path

import pytest

from tablelog.objects.s3options import object_store_options


def test_explicit_s3fs_options() -> None:
    so = {
        "key": "K",
        "secret": "S",
        "token": "T",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"},
    }
    assert object_store_options(so) == {
        "aws_access_key_id": "K",
        "aws_secret_access_key": "S",
        "aws_session_token": "T",
        "aws_region": "eu-west-1",
        "aws_endpoint_url": "http://127.0.0.1:9000",
        "allow_http": "true",
        "aws_virtual_hosted_style_request": "false",
    }


def test_environment_gives_where_but_never_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "EK",
        "AWS_SECRET_ACCESS_KEY": "ES-secret",
        "AWS_ENDPOINT_URL": "https://minio.example:9000",
        "AWS_REGION": "ap-northeast-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = object_store_options(None)
    assert out == {
        "aws_endpoint_url": "https://minio.example:9000",
        "aws_region": "ap-northeast-1",
        "aws_virtual_hosted_style_request": "false",
    }


def test_profile_endpoint_and_services_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The endpoint of a profile's [services] section, as botocore (and so s3fs) use it."""
    config = tmp_path / "config"
    config.write_text(
        "[profile lab]\nregion = eu-central-1\nservices = lab-s3\n"
        "aws_access_key_id = PK\naws_secret_access_key = profile-secret\n"
        "[services lab-s3]\ns3 =\n  endpoint_url = http://127.0.0.1:9999\n"
        "[profile plain]\nregion = eu-west-3\nendpoint_url = http://127.0.0.1:8888\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "lab")
    out = object_store_options({})
    assert out["aws_endpoint_url"] == "http://127.0.0.1:9999"
    assert out["aws_region"] == "eu-central-1"
    assert "profile-secret" not in repr(out) and "aws_profile" not in out
    # an explicit s3fs profile is handed to Polars' credential provider by name
    out = object_store_options({"profile": "plain"})
    assert out["aws_endpoint_url"] == "http://127.0.0.1:8888"
    assert out["aws_profile"] == "plain" and out["aws_region"] == "eu-west-3"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert "aws_endpoint_url" not in object_store_options({})


def test_anonymous() -> None:
    assert object_store_options({"anon": True})["aws_skip_signature"] == "true"
