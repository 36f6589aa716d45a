"""Translate fsspec/s3fs options and the AWS environment to object_store keys.

Polars reads S3 through the Rust ``object_store`` crate, whose option names differ
from s3fs' keyword arguments. This is the only place that knows both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def object_store_options(
    storage_options: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Polars ``storage_options`` equivalent to the given s3fs options.

    Explicit s3fs options win; then the standard AWS environment and config
    (``AWS_ENDPOINT_URL``, keys, ``AWS_PROFILE``) as boto3 resolves them.
    """
    so = dict(storage_options or {})
    env = os.environ if environ is None else environ
    client_kwargs = dict(so.get("client_kwargs") or {})
    out: dict[str, str] = {}

    key = so.get("key") or so.get("aws_access_key_id")
    secret = so.get("secret") or so.get("aws_secret_access_key")
    token = so.get("token") or so.get("aws_session_token")
    region = client_kwargs.get("region_name") or so.get("region_name")
    endpoint = (
        client_kwargs.get("endpoint_url")
        or so.get("endpoint_url")
        or env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
    )
    if not so.get("anon") and not (key and secret):
        import boto3  # the credential chain: env, profile, config, instance role

        session = boto3.Session(profile_name=so.get("profile") or env.get("AWS_PROFILE"))
        creds = session.get_credentials()
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            key, secret, token = frozen.access_key, frozen.secret_key, frozen.token
        region = region or session.region_name
    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")

    if so.get("anon"):
        out["aws_skip_signature"] = "true"
    if key and secret:
        out["aws_access_key_id"] = str(key)
        out["aws_secret_access_key"] = str(secret)
    if token:
        out["aws_session_token"] = str(token)
    out["aws_region"] = str(region or "us-east-1")
    if endpoint:
        out["aws_endpoint_url"] = str(endpoint)
        if str(endpoint).startswith("http://"):
            out["aws_allow_http"] = "true"
        # Custom endpoints (MinIO, SeaweedFS, LocalStack) are path-style.
        out["aws_virtual_hosted_style_request"] = "false"
    return out
