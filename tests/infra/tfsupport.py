"""Helpers for the Terraform tests of infra/: terraform, the provider mirror, moto.

Nothing here downloads anything: ``terraform init`` runs with ``-plugin-dir``
pointing at a local mirror of the hashicorp/aws provider. The mirror is looked
for in $TABLELOG_TF_PLUGIN_DIR and then in a few usual places; when terraform
or the mirror is missing, the tests that need them are skipped with the reason.

Terraform always runs in a copy of infra/ under a temporary folder, so neither
``.terraform/`` nor a state file ever lands in the repository.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
EXAMPLE = Path("examples") / "team-bucket"
MODULE = Path("modules") / "team-bucket"

# Read at import time: the suite's autouse fixture removes TABLELOG_* variables
# from the environment of every test.
PLUGIN_DIR_ENV = "TABLELOG_TF_PLUGIN_DIR"
_PLUGIN_DIR_FROM_ENV = os.environ.get(PLUGIN_DIR_ENV)

# The constraint in infra/*/versions.tf: ">= 5.60.0, < 6.0.0".
_AWS_MIN = (5, 60, 0)
_AWS_MAX_EXCLUSIVE = (6, 0, 0)

REGION = "us-east-1"
KEY = "testing"
SECRET = "testing"

TF_TIMEOUT = 600  # seconds for one terraform command (apply waits ~1 min on lifecycle rules)


# ---------------------------------------------------------------------------
# Locating terraform and the provider mirror
# ---------------------------------------------------------------------------


def _platform_dir() -> str:
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"{system}_{arch}"


def _version_tuple(text: str) -> tuple[int, ...] | None:
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(p) for p in m.groups()) if m else None


def compatible_aws_versions(plugin_dir: Path) -> list[str]:
    """Versions of hashicorp/aws in the mirror ``plugin_dir`` usable here (this
    platform, inside the module's version constraint), newest first."""
    aws = plugin_dir / "registry.terraform.io" / "hashicorp" / "aws"
    found: list[tuple[tuple[int, ...], str]] = []
    if not aws.is_dir():
        return []
    for vdir in aws.iterdir():
        v = _version_tuple(vdir.name)
        if v is None or not (_AWS_MIN <= v < _AWS_MAX_EXCLUSIVE):
            continue
        pdir = vdir / _platform_dir()
        if pdir.is_dir() and any(
            p.name.startswith("terraform-provider-aws") for p in pdir.iterdir()
        ):
            found.append((v, vdir.name))
    # A packed mirror holds zip files (no version folders) in the same place.
    for z in aws.glob(f"terraform-provider-aws_*_{_platform_dir()}.zip"):
        m = re.match(r"terraform-provider-aws_(\d+\.\d+\.\d+)_", z.name)
        v = _version_tuple(m.group(1)) if m else None
        if v is not None and _AWS_MIN <= v < _AWS_MAX_EXCLUSIVE:
            found.append((v, m.group(1)))  # type: ignore[union-attr]
    return [name for _, name in sorted(found, reverse=True)]


def _candidate_plugin_dirs() -> list[Path]:
    home = Path.home()
    xdg_data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    fixed = [
        Path("/opt/tf-plugins"),
        Path("/opt/terraform-plugins"),
        Path("/opt/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/lib/terraform/plugins"),
        Path("/usr/local/lib/terraform/plugins"),
        home / ".terraform.d" / "plugins",
        xdg_data / "terraform" / "plugins",
    ]
    # Then a shallow search: <root>/*/registry.terraform.io and <root>/*/*/...
    searched: list[Path] = []
    for root in (
        Path("/opt"),
        Path("/usr/share"),
        Path("/usr/local/share"),
        Path("/usr/local/lib"),
        home / ".terraform.d",
        xdg_data,
    ):
        for pattern in ("*/registry.terraform.io", "*/*/registry.terraform.io"):
            try:
                searched.extend(sorted(p.parent for p in root.glob(pattern)))
            except OSError:
                continue
    out: list[Path] = []
    for p in [*fixed, *searched]:
        if p not in out:
            out.append(p)
    return out


def find_plugin_dir() -> tuple[Path | None, str]:
    """(folder holding registry.terraform.io/hashicorp/aws, why not found)."""
    if _PLUGIN_DIR_FROM_ENV:
        p = Path(_PLUGIN_DIR_FROM_ENV)
        if compatible_aws_versions(p):
            return p, ""
        return None, (
            f"${PLUGIN_DIR_ENV}={p} holds no hashicorp/aws provider >= 5.60, < 6 "
            f"for {_platform_dir()} (expected {p}/registry.terraform.io/hashicorp/aws/VERSION/"
            f"{_platform_dir()}/terraform-provider-aws_*)"
        )
    for p in _candidate_plugin_dirs():
        if compatible_aws_versions(p):
            return p, ""
    return None, (
        "no local mirror of the hashicorp/aws provider (>= 5.60, < 6, "
        f"{_platform_dir()}) found; set ${PLUGIN_DIR_ENV} to the folder that holds "
        "registry.terraform.io/hashicorp/aws"
    )


@dataclass
class Terraform:
    """Runs terraform in a private copy of infra/ with a hermetic environment."""

    binary: str
    plugin_dir: Path
    workdir: Path  # the copy of infra/
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self, *args: str, cwd: Path | None = None, check: bool = True, timeout: float = TF_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.binary, *args],
            cwd=cwd or self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"terraform {' '.join(args)} (in {cwd or self.workdir}) exited {proc.returncode}\n"
                f"--- stdout (tail) ---\n{proc.stdout[-6000:]}\n"
                f"--- stderr (tail) ---\n{proc.stderr[-6000:]}",
                pytrace=False,
            )
        return proc

    def init(self, subdir: Path) -> None:
        self.run(
            "init",
            "-input=false",
            "-no-color",
            f"-plugin-dir={self.plugin_dir}",
            cwd=self.workdir / subdir,
        )


def copy_infra(dest: Path) -> Path:
    """Copy infra/ to ``dest`` without Terraform's working files."""
    shutil.copytree(
        INFRA,
        dest,
        ignore=shutil.ignore_patterns(
            ".terraform",
            "*.tfstate",
            "*.tfstate.*",
            ".terraform.lock.hcl",
            "terraform.tfvars",
            "*.auto.tfvars",
        ),
    )
    return dest


def terraform_env(tmp: Path) -> dict[str, str]:
    """The environment terraform runs with: no credentials, config or cache of
    the developer's, no network look-ups of terraform's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "TABLELOG_"))}
    cli_config = tmp / "terraformrc"
    cli_config.write_text("# empty: providers come from -plugin-dir only\n")
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
        AWS_ACCESS_KEY_ID=KEY,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@dataclass
class MotoEndpoint:
    endpoint: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
        )


@dataclass
class Applied:
    """The example applied against moto."""

    terraform: Terraform
    moto: MotoEndpoint
    bucket: str
    prefix: str
    var_args: list[str]
    outputs: dict[str, Any]
    destroyed: bool = False

    @property
    def root(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def cwd(self) -> Path:
        return self.terraform.workdir / EXAMPLE

    def destroy(self) -> None:
        if not self.destroyed:
            self.terraform.run(
                "destroy",
                "-auto-approve",
                "-input=false",
                "-no-color",
                *self.var_args,
                cwd=self.cwd,
            )
            self.destroyed = True


def local_server_vars(endpoint: str) -> list[str]:
    """-var arguments that point the example's provider at a local server."""
    return [
        f"-var=s3_endpoint={endpoint}",
        f"-var=iam_endpoint={endpoint}",
        f"-var=sts_endpoint={endpoint}",
        "-var=skip_credentials_validation=true",
        "-var=skip_requesting_account_id=true",
        "-var=skip_metadata_api_check=true",
        "-var=s3_use_path_style=true",
    ]
