"""Fixtures for the Terraform tests of infra/ (helpers live in tfsupport.py).

``terraform``: terraform and the local hashicorp/aws mirror (skips when either
is missing), running in a private copy of infra/. ``infra_moto``: moto's
server (S3, IAM, STS) on loopback. ``applied``: the example applied against it,
destroyed at the end of the module.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator

import pytest
from servers import start_moto
from tfsupport import (
    EXAMPLE,
    Applied,
    MotoEndpoint,
    Terraform,
    copy_infra,
    find_plugin_dir,
    local_server_vars,
    terraform_env,
)


@pytest.fixture(scope="module")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform is not installed (not on PATH)")
    plugin_dir, why = find_plugin_dir()
    if plugin_dir is None:
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("tf")
    return Terraform(
        binary=binary,
        plugin_dir=plugin_dir,
        workdir=copy_infra(tmp / "infra"),
        env=terraform_env(tmp),
    )


# ---------------------------------------------------------------------------
# moto (S3 + IAM + STS) and the applied example
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def infra_moto() -> Iterator[MotoEndpoint]:
    """moto's server (S3, IAM, STS) in its own process, on a free loopback port."""
    server = start_moto()
    try:
        yield MotoEndpoint(endpoint=server.endpoint_url)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def applied(terraform: Terraform, infra_moto: MotoEndpoint) -> Iterator[Applied]:
    """``terraform apply`` of infra/examples/team-bucket against moto; destroyed
    at the end of the module (unless a test destroyed it already)."""
    bucket = f"tablelog-infra-{uuid.uuid4().hex[:12]}"
    prefix = "team-a"
    var_args = [
        f"-var=bucket_name={bucket}",
        f"-var=prefix={prefix}",
        # The round-trip test leaves objects behind.
        "-var=force_destroy=true",
        *local_server_vars(infra_moto.endpoint),
    ]
    cwd = terraform.workdir / EXAMPLE
    terraform.init(EXAMPLE)
    state = Applied(
        terraform=terraform,
        moto=infra_moto,
        bucket=bucket,
        prefix=prefix,
        var_args=var_args,
        outputs={},
    )
    try:
        terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *var_args, cwd=cwd)
        out = terraform.run("output", "-json", "-no-color", cwd=cwd)
        state.outputs = {k: v["value"] for k, v in json.loads(out.stdout).items()}
        yield state
    finally:
        state.destroy()
