"""infra/: the team-bucket Terraform module and its example.

* fmt / init (from the local provider mirror) / validate, and variable validation;
* apply of the example against moto's server (S3 + IAM + STS), with the bucket
  and the IAM policies inspected through boto3, then destroy;
* the policy documents from ``terraform output -json``: writers cannot delete,
  readers cannot write, no action wildcards, nothing outside the prefix;
* tablelog logs a table into the created bucket and reads it back;
* checkov passes, and every skipped check carries a reason.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from launch_env import LAUNCH_ENV
from tfsupport import (
    EXAMPLE,
    INFRA,
    MODULE,
    Applied,
    Terraform,
    copy_infra,
    local_server_vars,
)

# One xdist worker runs the whole module (make test: --dist loadgroup), so that the
# module-scoped terraform apply happens once, not once per worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("terraform")]


# ---------------------------------------------------------------------------
# (1) fmt, init, validate, variable validation
# ---------------------------------------------------------------------------


def test_fmt_init_validate(terraform: Terraform) -> None:
    terraform.run("fmt", "-check", "-recursive", "-diff", "-no-color", ".")
    for sub in (MODULE, EXAMPLE):
        terraform.init(sub)
        out = terraform.run("validate", "-json", "-no-color", cwd=terraform.workdir / sub)
        report = json.loads(out.stdout)
        assert report["valid"] is True, report
        assert report["warning_count"] == 0, report["diagnostics"]
    lock = (terraform.workdir / EXAMPLE / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock
    # init never touched the repository.
    assert not list(INFRA.rglob(".terraform"))


# Each plan reports every failing validation at once, so a few plans cover many
# rules; they run side by side (starting the aws provider takes most of the ~10 s).
_BAD_VARIABLES: list[tuple[list[str], list[str]]] = [
    (
        ["bucket_name=Bad_Bucket", "prefix=/team-a", "kms_key_arn=alias/mine"],
        ["lowercase letters", "must not start or end with '/'", "must be null or a KMS key ARN"],
    ),
    (
        ["bucket_name=192.168.1.1", "prefix=team-*", "scratch_prefix=tmp/"],
        ["formatted as an IP address", "no wildcards", "no leading or trailing slash"],
    ),
]


_OPTIONS = {
    "bucket_name": "acme-ml-tablelog",
    "kms_key_arn": "arn:aws:kms:us-east-1:111122223333:key/00000000-1111-2222-3333-444444444444",
    "create_roles": True,
    "role_trusted_principal_arns": {
        "writer": ["arn:aws:iam::111122223333:role/jobs"],
        "reader": ["arn:aws:iam::111122223333:role/notebooks"],
        "maintainer": ["arn:aws:iam::111122223333:role/gc"],
    },
    "scratch_prefix": None,
    "versioning_enabled": False,
}


def test_plans_bad_input_and_options(terraform: Terraform) -> None:
    """Bad inputs are rejected by the variables' validation; the optional
    features (SSE-KMS, roles, no scratch rule, no versioning) plan cleanly."""
    terraform.init(EXAMPLE)
    cwd = terraform.workdir / EXAMPLE
    (cwd / "options.tfvars.json").write_text(json.dumps(_OPTIONS))
    # A closed port: plan -refresh=false of new resources sends nothing anywhere.
    offline = local_server_vars("http://127.0.0.1:9")
    base = [terraform.binary, "plan", "-input=false", "-no-color", "-lock=false", "-refresh=false"]
    commands = [
        [*base, *(f"-var={v}" for v in variables), *offline] for variables, _ in _BAD_VARIABLES
    ]
    commands.append([*base, "-var-file=options.tfvars.json", *offline])
    procs = [
        subprocess.Popen(
            cmd,
            cwd=cwd,
            env=terraform.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for cmd in commands
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]

    for proc, output, (variables, messages) in zip(procs, outputs, _BAD_VARIABLES, strict=False):
        assert proc.returncode != 0, (variables, output[-3000:])
        flat = " ".join(output.split())
        assert "Invalid value for variable" in flat, (variables, flat[-3000:])
        for message in messages:
            assert message in flat, (variables, message, flat[-3000:])

    options = outputs[-1]
    assert procs[-1].returncode == 0, options[-5000:]
    flat = " ".join(options.split())
    assert 'sse_algorithm = "aws:kms"' in flat
    assert "bucket_key_enabled = true" in flat
    assert f'kms_master_key_id = "{_OPTIONS["kms_key_arn"]}"' in flat
    assert 'aws_iam_role.this["writer"] will be created' in flat
    assert 'aws_iam_role_policy_attachment.this["maintainer"] will be created' in flat
    assert "kms:GenerateDataKey" in flat
    assert re.search(r"Plan: 16 to add, 0 to change, 0 to destroy", flat), flat[-2000:]


# ---------------------------------------------------------------------------
# (2) apply against moto, inspect with boto3
# ---------------------------------------------------------------------------


def test_apply_creates_hardened_bucket(applied: Applied) -> None:
    s3 = applied.moto.client("s3")
    bucket = applied.bucket
    out = applied.outputs

    assert out["bucket_name"] == bucket
    assert out["prefix"] == applied.prefix
    assert out["tablelog_root"] == f"s3://{bucket}/{applied.prefix}"

    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200

    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert pab == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }

    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    default = enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "AES256"

    owner = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert owner["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]

    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"

    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    (deny,) = [st for st in policy["Statement"] if st["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] in ("*", {"AWS": "*"})
    assert sorted(_as_list(deny["Resource"])) == sorted(
        [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    )

    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    abort = rules["abort-incomplete-multipart-uploads"]
    assert abort["Status"] == "Enabled"
    assert abort["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    assert abort.get("Filter", {}).get("Prefix", "") == ""  # the whole bucket
    scratch = rules["expire-scratch"]
    assert scratch["Status"] == "Enabled"
    assert scratch["Filter"]["Prefix"] == f"{applied.prefix}/scratch/"
    assert scratch["Expiration"]["Days"] == 7
    assert rules["expire-noncurrent-versions"]["Status"] == "Enabled"


def test_apply_creates_iam_policies(applied: Applied) -> None:
    iam = applied.moto.client("iam")
    out = applied.outputs
    assert set(out["policy_arns"]) == {"writer", "reader", "maintainer"}
    assert out["role_arns"] == {}  # roles are off by default
    for kind in ("writer", "reader", "maintainer"):
        arn = out[f"{kind}_policy_arn"]
        assert out["policy_arns"][kind] == arn
        pol = iam.get_policy(PolicyArn=arn)["Policy"]
        assert pol["Path"] == "/tablelog/"
        version = iam.get_policy_version(PolicyArn=arn, VersionId=pol["DefaultVersionId"])
        doc = version["PolicyVersion"]["Document"]
        if isinstance(doc, str):
            doc = json.loads(doc)
        assert doc == json.loads(out["policy_json"][kind])
    assert iam.list_roles(PathPrefix="/tablelog/")["Roles"] == []


# ---------------------------------------------------------------------------
# (3) the policy documents
# ---------------------------------------------------------------------------


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _statements(doc_json: str) -> list[dict[str, Any]]:
    doc = json.loads(doc_json)
    assert doc["Version"] == "2012-10-17"
    return list(doc["Statement"])


def _match(pattern: str, value: str) -> bool:
    """IAM-style glob: '*' and '?' match any characters, '/' included."""
    return fnmatch.fnmatchcase(value, pattern)


def _allowed(doc_json: str, action: str, resource: str, s3_prefix: str | None = None) -> bool:
    """A small evaluator for these identity policies (Allow only, StringLike
    on s3:prefix): would ``action`` on ``resource`` be allowed?"""
    for st in _statements(doc_json):
        if st["Effect"] != "Allow":
            continue
        if not any(_match(a.lower(), action.lower()) for a in _as_list(st["Action"])):
            continue
        if not any(_match(r, resource) for r in _as_list(st["Resource"])):
            continue
        cond = st.get("Condition")
        if cond:
            like = cond.get("StringLike", {}).get("s3:prefix")
            assert set(cond) == {"StringLike"} and like is not None, cond
            if s3_prefix is None or not any(_match(p, s3_prefix) for p in _as_list(like)):
                continue
        return True
    return False


def test_policy_documents_are_least_privilege(applied: Applied) -> None:
    bucket, prefix = applied.bucket, applied.prefix
    docs: dict[str, str] = applied.outputs["policy_json"]
    bucket_arn = f"arn:aws:s3:::{bucket}"
    objects_arn = f"arn:aws:s3:::{bucket}/{prefix}/*"

    def obj(key: str) -> str:
        return f"arn:aws:s3:::{bucket}/{key}"

    # Structure: no wildcards in actions, no Not*, only the two resources (and the
    # create-only rule for manifests, checked below).
    for kind, doc in docs.items():
        for st in _statements(doc):
            if st.get("Sid") == "ManifestsAreCreateOnly" and kind != "reader":
                continue
            assert st["Effect"] == "Allow", (kind, st)
            assert not {"NotAction", "NotResource", "NotPrincipal", "Principal"} & set(st)
            for action in _as_list(st["Action"]):
                assert "*" not in action and "?" not in action, (kind, action)
                assert re.fullmatch(r"s3:[A-Za-z]+", action), (kind, action)
            resources = _as_list(st["Resource"])
            if resources == [bucket_arn]:
                assert _as_list(st["Action"]) == ["s3:ListBucket"], (kind, st)
                like = st["Condition"]["StringLike"]["s3:prefix"]
                assert all(p.startswith(f"{prefix}/") for p in _as_list(like)), like
            else:
                assert resources == [objects_arn], (kind, st)
                assert "s3:ListBucket" not in _as_list(st["Action"])

    inside = obj(f"{prefix}/proj/run/eval/manifest.json")
    for kind in ("writer", "reader", "maintainer"):
        doc = docs[kind]
        assert _allowed(doc, "s3:GetObject", inside), kind
        assert _allowed(doc, "s3:ListBucket", bucket_arn, s3_prefix=f"{prefix}/"), kind
        assert _allowed(doc, "s3:ListBucket", bucket_arn, s3_prefix=f"{prefix}/proj/run/"), kind
        # Nothing outside the prefix: other prefixes, look-alike prefixes, the
        # bucket root, listing without or with another prefix.
        for key in (
            "team-b/x.parquet",
            f"{prefix}-other/x.parquet",
            f"{prefix}x/y",
            "x.json",
            prefix,
        ):
            for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
                assert not _allowed(doc, action, obj(key)), (kind, action, key)
        for listed in (None, "", "team-b/", prefix, f"{prefix}-other/"):
            assert not _allowed(doc, "s3:ListBucket", bucket_arn, s3_prefix=listed), (kind, listed)
        # Bucket-level actions are never granted.
        for action in (
            "s3:DeleteBucket",
            "s3:PutBucketPolicy",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketVersioning",
            "s3:DeleteObjectVersion",
        ):
            assert not _allowed(doc, action, bucket_arn), (kind, action)
            assert not _allowed(doc, action, inside), (kind, action)

    # writers: put + get + list, never delete.
    assert _allowed(docs["writer"], "s3:PutObject", inside)
    writer_actions = {a for st in _statements(docs["writer"]) for a in _as_list(st["Action"])}
    assert not [a for a in writer_actions if "delete" in a.lower()], writer_actions
    assert not _allowed(docs["writer"], "s3:DeleteObject", inside)

    # readers: get + list only.
    reader_actions = {a for st in _statements(docs["reader"]) for a in _as_list(st["Action"])}
    assert reader_actions == {"s3:GetObject", "s3:ListBucket"}
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
        assert not _allowed(docs["reader"], action, inside), action

    # maintainers (gc, compact): also delete, under the prefix only.
    assert _allowed(docs["maintainer"], "s3:PutObject", inside)
    assert _allowed(docs["maintainer"], "s3:DeleteObject", inside)


def _denied(doc_json: str, action: str, resource: str, *, headers: set[str]) -> bool:
    """Whether a Deny of these policies (a ``Null`` test on S3 condition keys) refuses
    ``action`` on ``resource`` for a request carrying ``headers`` (lower case)."""
    for st in _statements(doc_json):
        if st["Effect"] != "Deny":
            continue
        if not any(_match(a.lower(), action.lower()) for a in _as_list(st["Action"])):
            continue
        if not any(_match(r, resource) for r in _as_list(st["Resource"])):
            continue
        cond = st.get("Condition", {})
        assert set(cond) == {"Null"}, cond
        if all(
            (key.removeprefix("s3:") not in headers) == (_as_list(value)[0] == "true")
            for key, value in cond["Null"].items()
        ):
            return True
    return False


def test_manifests_are_create_only(applied: Applied) -> None:
    """Writers and maintainers may create a manifest (If-None-Match: *, as tablelog
    always does) but never overwrite one: history cannot be rewritten. Data objects
    (possibly multipart, whose parts carry no If-None-Match) and run.json are not
    affected."""
    from tablelog.format import paths

    docs: dict[str, str] = applied.outputs["policy_json"]

    def obj(key: str) -> str:
        return f"arn:aws:s3:::{applied.bucket}/{applied.prefix}/{key}"

    manifests = [
        obj(paths.version_key("proj", "run1", "eval", 3)),
        obj(paths.version_key("proj", "run1", paths.shard_key("rank-00001", "eval"), 0)),
        obj(paths.version_key("proj", "run1", "_history", 12)),
    ]
    others = [
        obj(paths.object_key("ab" * 32)),
        obj(paths.run_json_key("proj", "run1")),
        obj("_tablelog/probes/0123"),
    ]
    for kind in ("writer", "maintainer"):
        doc = docs[kind]
        for key in manifests:
            assert _allowed(doc, "s3:PutObject", key), (kind, key)
            assert not _denied(doc, "s3:PutObject", key, headers={"if-none-match"}), (kind, key)
            assert _denied(doc, "s3:PutObject", key, headers=set()), (kind, key)
            assert _denied(doc, "s3:PutObject", key, headers={"if-match"}), (kind, key)
        for key in others:
            assert not _denied(doc, "s3:PutObject", key, headers=set()), (kind, key)
    (deny,) = [st for st in _statements(docs["writer"]) if st["Effect"] == "Deny"]
    assert _as_list(deny["Action"]) == ["s3:PutObject"]
    assert not [st for st in _statements(docs["reader"]) if st["Effect"] == "Deny"]


def test_bucket_policy_denies_plain_http(applied: Applied) -> None:
    (st,) = _statements(applied.outputs["bucket_policy_json"])
    assert st["Effect"] == "Deny"
    assert st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# ---------------------------------------------------------------------------
# (4) tablelog writes into the created bucket and reads back
# ---------------------------------------------------------------------------


def _tablelog_or_skip() -> Any:
    try:
        tablelog = importlib.import_module("tablelog")
    except ImportError:
        pytest.skip("tablelog core not importable yet")
    if not hasattr(tablelog, "init"):
        pytest.skip("tablelog core not importable yet")
    return tablelog


@contextlib.contextmanager
def _without_bucket_policy(applied: Applied) -> Iterator[None]:
    """moto ignores the Condition of bucket-policy statements (see
    moto/iam/access_control.py), so the TLS-only Deny (s3:* when
    aws:SecureTransport is false) refuses every object request there, even
    though AWS applies it to plain-HTTP requests only. Lift the policy for the
    duration of the round trip and put back exactly what Terraform applied."""
    s3 = applied.moto.client("s3")
    policy = s3.get_bucket_policy(Bucket=applied.bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=applied.bucket)
    try:
        yield
    finally:
        s3.put_bucket_policy(Bucket=applied.bucket, Policy=policy)


def test_bucket_policy_is_enforced_by_moto(applied: Applied) -> None:
    """With the bucket policy in place, moto refuses object writes (it reads
    the Deny without its condition, see above): the policy is really attached."""
    from botocore.exceptions import ClientError

    s3 = applied.moto.client("s3")
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=applied.bucket, Key=f"{applied.prefix}/probe", Body=b"x")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_tablelog_roundtrip_in_created_bucket(applied: Applied) -> None:
    tablelog = _tablelog_or_skip()
    bucket, prefix, endpoint = applied.bucket, applied.prefix, applied.moto.endpoint
    root = "s3://" + bucket + "/" + prefix
    assert root == applied.outputs["tablelog_root"]
    so = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    with _without_bucket_policy(applied):
        with tablelog.init(project="infra-demo", root=root, storage_options=so) as run:
            run.log({"eval": tablelog.Table(columns=["a", "b"], data=[[1, "x"], [2, "y"]])})
            run_id = run.id
        df = tablelog.scan(f"infra-demo/{run_id}/eval", root=root, storage_options=so).collect()
    assert df.shape == (2, 2)
    assert df["a"].to_list() == [1, 2]
    assert df["b"].to_list() == ["x", "y"]

    # Everything was written under the team prefix, nothing beside it.
    s3 = applied.moto.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert keys
    assert all(k.startswith(f"{prefix}/") for k in keys), keys


def test_destroy_removes_everything(applied: Applied) -> None:
    """Runs last in this file: destroy (force_destroy=true, as the round trip
    left objects behind) and check that the bucket and the policies are gone."""
    s3 = applied.moto.client("s3")
    iam = applied.moto.client("iam")
    applied.destroy()
    names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    assert applied.bucket not in names
    arns = {p["Arn"] for p in iam.list_policies(Scope="Local", PathPrefix="/tablelog/")["Policies"]}
    assert not arns & set(applied.outputs["policy_arns"].values())


# ---------------------------------------------------------------------------
# (5) checkov
# ---------------------------------------------------------------------------

CHECKOV_SPEC = os.environ.get("TABLELOG_CHECKOV_SPEC", "checkov==3.3.30")
_CHECKOV_VENV_ENV = os.environ.get("TABLELOG_CHECKOV_VENV")
#: The environment as pytest started (tests/launch_env.py): tests/conftest.py points
#: every proxy variable at a dead proxy, and pip must reach the package index through
#: the machine's real proxy settings.
_PIP_ENV = dict(LAUNCH_ENV)


def _checkov_venv() -> Path:
    if _CHECKOV_VENV_ENV:
        return Path(_CHECKOV_VENV_ENV)
    # Inside the repository's ignored .tools/ (make clean removes it), not in ~/.cache.
    return Path(__file__).resolve().parents[2] / ".tools" / "checkov-venv"


def _checkov_or_skip() -> Path:
    """checkov from its own venv (it ships an hcl2 module that conflicts with
    other packages), created on first use."""
    venv = _checkov_venv()
    exe = venv / "bin" / "checkov"
    pip = venv / "bin" / "pip"
    wanted = CHECKOV_SPEC.partition("==")[2]
    if exe.exists():
        ver = subprocess.run(
            [str(exe), "--version"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        if ver.returncode == 0 and (not wanted or ver.stdout.strip() == wanted):
            return exe
    if not pip.exists():
        mk = subprocess.run(
            [sys.executable, "-m", "venv", str(venv)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
        if mk.returncode != 0:
            pytest.skip(f"cannot create a venv for checkov at {venv}: {mk.stderr[-500:]}")
    inst = subprocess.run(
        [str(pip), "install", "--quiet", "--disable-pip-version-check", CHECKOV_SPEC],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=_PIP_ENV,
        timeout=900,
        check=False,
    )
    if inst.returncode != 0 or not exe.exists():
        pytest.skip(f"pip could not install {CHECKOV_SPEC} into {venv}: {inst.stderr[-800:]}")
    return exe


SKIP_RE = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def test_checkov_skips_carry_reasons() -> None:
    tf_files = sorted(INFRA.rglob("*.tf"))
    assert tf_files
    for path in tf_files:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" not in line:
                continue
            m = SKIP_RE.search(line)
            assert m, f"{path}:{lineno}: malformed checkov skip: {line.strip()}"
            reason = (m.group(2) or "").strip()
            assert len(reason) >= 20, f"{path}:{lineno}: {m.group(1)} skipped without a reason"


@pytest.mark.timeout(1200)
def test_checkov_passes(tmp_path: Path) -> None:
    exe = _checkov_or_skip()
    infra = copy_infra(tmp_path / "infra")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_", "CKV_"))}
    proc = subprocess.run(
        [
            str(exe),
            "-d",
            str(infra),
            "--skip-download",
            "--framework",
            "terraform",
            "--compact",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-8000:]
    m = re.search(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", output)
    assert m, output[-3000:]
    passed, failed, _skipped = (int(g) for g in m.groups())
    assert failed == 0, output[-8000:]
    assert passed >= 20, output[-3000:]  # it really scanned the module
