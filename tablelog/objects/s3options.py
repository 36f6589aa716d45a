"""Translate fsspec/s3fs options and the AWS configuration to Polars' (object_store) keys.

Polars reads S3 through the Rust ``object_store`` crate, whose option names differ
from s3fs' keyword arguments. This is the only place that knows both.

Two rules keep readers and writers of one root on the same server and identity:

* **Where** (endpoint, region) is resolved by botocore itself, exactly as the s3fs
  client that writes resolves it: explicit options, then ``AWS_ENDPOINT_URL_S3`` /
  ``AWS_ENDPOINT_URL``, the profile's ``endpoint_url`` or its ``[services]`` section,
  ``ignore_configured_endpoint_urls``; the region from ``AWS_REGION``, the profile...
* **Who** (credentials) is never resolved here. Unless the caller passed keys in
  ``storage_options`` (their choice: Polars then keeps them in the LazyFrame, and a
  pickled or serialized frame carries them), Polars' own AWS credential provider
  looks them up with boto3 when a query runs, from the same environment and profile.
  A LazyFrame, and anything it is pickled into, holds no secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: The s3fs options that hold secrets: passed on to Polars only when given explicitly.
SECRET_OPTIONS = ("secret", "aws_secret_access_key", "token", "aws_session_token")


def object_store_options(storage_options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Polars ``storage_options`` for the S3 server and identity s3fs would use.

    Only what the caller gave explicitly (keys included) and the non-secret
    configuration botocore resolves (endpoint, region, profile name) go in.
    """
    so = dict(storage_options or {})
    client_kwargs = dict(so.get("client_kwargs") or {})
    out: dict[str, str] = {}

    key = so.get("key") or so.get("aws_access_key_id")
    secret = so.get("secret") or so.get("aws_secret_access_key")
    token = so.get("token") or so.get("aws_session_token")
    profile = so.get("profile")
    region = client_kwargs.get("region_name") or so.get("region_name")
    endpoint = client_kwargs.get("endpoint_url") or so.get("endpoint_url")
    if endpoint is None or region is None:
        found_endpoint, found_region = _botocore_config(profile)
        endpoint = endpoint or found_endpoint
        region = region or found_region

    if so.get("anon"):
        out["aws_skip_signature"] = "true"
    elif key and secret:  # the caller's own keys: they travel with the frame
        out["aws_access_key_id"] = str(key)
        out["aws_secret_access_key"] = str(secret)
        if token:
            out["aws_session_token"] = str(token)
    elif profile:
        # Polars' AWS credential provider reads this profile (with boto3) at collect();
        # without one it follows boto3's chain (environment, AWS_PROFILE, ...) as s3fs.
        out["aws_profile"] = str(profile)
    # botocore reads AWS_DEFAULT_REGION; AWS_REGION is the other SDKs' (and Polars') name.
    out["aws_region"] = str(region or os.environ.get("AWS_REGION") or "us-east-1")
    if endpoint:
        out["aws_endpoint_url"] = str(endpoint)
        if str(endpoint).startswith("http://"):
            # "allow_http" (not "aws_allow_http"): Polars still picks its credential
            # provider for options it knows carry no credentials.
            out["allow_http"] = "true"
        # Custom endpoints (MinIO, SeaweedFS, LocalStack) are path-style.
        out["aws_virtual_hosted_style_request"] = "false"
    return out


def _botocore_config(profile: str | None) -> tuple[str | None, str | None]:
    """(endpoint URL, region) as botocore resolves them for an S3 client.

    The endpoint comes from botocore's own configured-endpoint resolution (the
    provider its ``Session.create_client`` installs), so the environment, the
    profile's ``endpoint_url`` and ``[services]`` sections are read exactly as by the
    writer's s3fs client.
    """
    import botocore.exceptions
    import botocore.session
    from botocore.configprovider import ConfiguredEndpointProvider

    session = botocore.session.Session(profile=profile)
    try:
        scoped = session.get_scoped_config()
    except botocore.exceptions.ProfileNotFound:
        return None, None  # s3fs fails the same way when it is used
    region = session.get_config_variable("region")
    endpoint = None
    if not session.get_config_variable("ignore_configured_endpoint_urls"):
        endpoint = ConfiguredEndpointProvider(
            full_config=session.full_config, scoped_config=scoped, client_name="s3"
        ).provide()
    return endpoint, region
