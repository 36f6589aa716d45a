"""``tablelog.init``: start, resume or join a run, and check what it was given."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import string
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tablelog.errors import RunError, StoreUnavailableError
from tablelog.format import paths
from tablelog.format.chain import TableRef, latest_version, write_format
from tablelog.format.runinfo import RunInfo, encode_run_info, read_run_info
from tablelog.format.values import check_text
from tablelog.objects.fsspec_store import FsspecStore
from tablelog.objects.open import open_store
from tablelog.objects.process import ProcessStore
from tablelog.objects.store import Store
from tablelog.writer.config import as_mapping
from tablelog.writer.disabled import DisabledRun
from tablelog.writer.run import Run, log

RESUME_MODES = ("allow", "must", "never")
MODES = ("online", "offline", "disabled", "shared")
DEFAULT_PROJECT = "uncategorized"
_ID_CHARS = string.ascii_lowercase + string.digits


def _new_run_id() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(8))


def init(
    project: str | None = None,
    *,
    id: str | None = None,
    resume: str | bool | None = None,
    root: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | None = None,
    name: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    single_writer: bool = False,
    sync: bool = False,
    queue_size: int = 1000,
    queue_bytes: int = 64 << 20,
    retry_for: float = 10.0,
    compact_at: int | None = None,
    keep_logged_rows: bool = False,
    shard: str | bool | None = None,
    store_process: bool = False,
    # W&B's keyword arguments (#17): tags, notes, group and job_type are kept in
    # run.json; mode is honoured; the rest steer W&B's service and are ignored.
    entity: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    notes: str | None = None,
    tags: Sequence[str] | None = None,
    config_exclude_keys: Sequence[str] | None = None,
    config_include_keys: Sequence[str] | None = None,
    allow_val_change: bool | None = None,
    group: str | None = None,
    job_type: str | None = None,
    mode: str | None = None,
    force: bool | None = None,
    anonymous: str | None = None,
    reinit: bool | str | None = None,
    resume_from: str | None = None,
    fork_from: str | None = None,
    save_code: bool | None = None,
    tensorboard: bool | None = None,
    sync_tensorboard: bool | None = None,
    monitor_gym: bool | None = None,
    settings: Any = None,
    magic: Any = None,
) -> Run | DisabledRun:
    """Start (or resume) a run in ``project``.

    Parameters
    ----------
    project:
        Project name (no ``/``); default ``"uncategorized"``.
    id:
        Run id; a new random id when omitted.
    resume:
        ``"must"`` reopens an existing run (error if missing), ``"allow"`` reopens or
        creates, ``"never"`` requires a new id. ``True`` means ``"allow"``.
    root:
        Store URL or folder; default ``$TABLELOG_ROOT``, else ``./tablelog-data``.
    storage_options:
        fsspec/s3fs options (credentials, ``client_kwargs.endpoint_url``); never stored.
    single_writer:
        Allow a store without create-if-absent, promising only one process writes.
    sync:
        Commit inside ``run.log`` instead of on the run's background thread.
    queue_size:
        Commits that may wait for the store before ``run.log`` blocks.
    queue_bytes:
        Bytes of logged rows that may wait for the store before ``run.log`` blocks
        (default 64 MiB; one log larger than this still goes, alone). With committed
        rows released (``keep_logged_rows=False``), this bounds a writer's memory for
        rows however long it logs.
    retry_for:
        Seconds a commit keeps retrying while the store is unreachable; after that the
        log and every later one go to the offline spool (``$TABLELOG_SPOOL``, default
        ``~/.cache/tablelog/spool``) and are committed, in order, when the store
        answers again, or by ``tablelog sync``.
    compact_at:
        At ``finish()``, compact (:func:`tablelog.compact`) every table this run logged
        whose latest version has at least this many fragments; ``None`` (default): never.
        Long INCREMENTAL logs then read as fast as one file, at the cost of rewriting
        their rows once when the run ends.
    keep_logged_rows:
        Keep an INCREMENTAL Table's rows in memory after they are committed. By default
        (False) committed rows are released, so a Table logged every step holds only
        the rows not yet committed, however long the run; reading the Table
        (``data``, ``get_column``, ``to_arrow``...) then reads them back from the store.
    shard:
        This process's shard id when many processes log the same tables of one run (one
        ``id``): each table is then committed to this shard's own chain, with no
        contention, and readers see the shards as one table. Default: ``rank-<RANK>``
        under a multi-process launcher (``RANK``/``WORLD_SIZE``, ``SLURM_PROCID``/
        ``SLURM_NTASKS``, ``OMPI_COMM_WORLD_RANK``/``_SIZE``) or ``$TABLELOG_SHARD``;
        otherwise none. ``False`` turns it off. A run with a shard joins an existing run
        of the same id (``resume="allow"``).
    store_process:
        On S3 and other network stores, send this run's requests from a child process
        (``tablelog.objects.process``), so that the S3 client's Python (about 1.5 ms
        of CPU per request) does not hold the GIL in this one: ``run.log`` then waits
        less when the commit thread is busy (docs/speed.md, "run.log latency"). Costs
        a process start (0.3-0.6 s) at ``init`` and a pipe hop per request; ignored
        for local folders and ``memory://``.
    tags, notes, group, job_type:
        As in W&B; kept in ``run.json`` and read back by :func:`tablelog.runs`.
    mode:
        ``"online"`` (default; also ``$TABLELOG_MODE``), ``"offline"`` (nothing
        reaches the store: every log goes to the local spool, and ``tablelog sync``
        commits it later) or ``"disabled"`` (nothing is written anywhere; every call
        is a no-op).
    config_exclude_keys, config_include_keys, allow_val_change:
        As in W&B: filter ``config``; allow changing config values later.
    entity, dir, force, anonymous, reinit, resume_from, fork_from, save_code,
    tensorboard, sync_tensorboard, monitor_gym, settings, magic:
        W&B's; accepted and ignored (``reinit`` is honoured by ``tablelog.init``).
    """
    del entity, dir, force, anonymous, reinit, resume_from, fork_from, save_code
    del tensorboard, sync_tensorboard, monitor_gym, settings, magic
    mode = mode or os.environ.get("TABLELOG_MODE") or "online"
    if mode not in MODES:
        raise RunError(f"mode must be one of {MODES}, got {mode!r}")
    write_format()  # a bad $TABLELOG_WRITE_FORMAT is refused before anything is written
    config = _filter_config(config, config_include_keys, config_exclude_keys)
    wandb_fields = _wandb_fields(tags, notes, group, job_type)
    check_text("init's name", name, RunError)
    if mode == "disabled":
        return DisabledRun(project=project, id=id, name=name, config=config, **wandb_fields)
    offline = mode == "offline"
    if offline and resume in ("must", "allow", True):
        raise RunError(
            "mode='offline' starts a new run (its logs wait in the spool); resuming a run "
            "needs the store: use mode='online'"
        )
    project = paths.check_segment_name("project", project or DEFAULT_PROJECT)
    joinable = resume is None  # (a sharded run joins its id unless told otherwise)
    if resume is True:
        resume = "allow"
    elif resume is False:
        resume = None
    if resume is not None and resume not in RESUME_MODES:
        raise RunError(f"resume must be one of {RESUME_MODES} (or None), got {resume!r}")
    if resume == "must" and id is None:
        raise RunError("resume='must' needs the id of the run to resume")
    shard_id = _shard_id(shard)
    if shard_id is not None:
        if id is None:
            log.warning(
                "tablelog: shard %r but no id=: this process starts a run of its own; pass "
                "the id all processes of the job share to log their shards into one run",
                shard_id,
            )
        if joinable:
            resume = "allow"
    run_id = paths.check_segment_name("run id", id if id is not None else _new_run_id())
    if compact_at is not None and (
        isinstance(compact_at, bool) or not isinstance(compact_at, int) or compact_at < 2
    ):
        raise RunError(f"compact_at must be a whole number >= 2 or None, got {compact_at!r}")
    for arg, value, least in (("queue_size", queue_size, 1), ("queue_bytes", queue_bytes, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise RunError(f"{arg} must be a whole number >= {least}, got {value!r}")
    now = time.time()
    info = RunInfo(
        project=project,
        run_id=run_id,
        name=name,
        config=_plain_config(config),
        created=now,
        updated=now,
        **wandb_fields,
    )
    options: dict[str, Any] = {
        "single_writer": single_writer,
        "sync": sync,
        "queue_size": queue_size,
        "queue_bytes": queue_bytes,
        "retry_for": retry_for,
        "compact_at": compact_at,
        "keep_logged_rows": bool(keep_logged_rows),
        "shard": shard_id,
        "storage_options": storage_options,
        "allow_val_change": bool(allow_val_change),
    }
    store = open_store(root, storage_options=storage_options)
    if store_process and not offline and isinstance(store, FsspecStore) and store.remote:
        try:
            store = ProcessStore(store)
        except StoreUnavailableError as e:
            log.warning("tablelog: store_process=True: %s; the run sends its requests itself", e)
    try:
        return _open(store, info, offline, resume, config, options)
    except BaseException:
        store.close()  # (a ProcessStore's child: no run holds it)
        raise


def _open(
    store: Store,
    info: RunInfo,
    offline: bool,
    resume: str | None,
    config: Mapping[str, Any] | None,
    options: dict[str, Any],
) -> Run:
    """The run ``info`` names: new, resumed or offline (``init``'s last step)."""
    project, run_id = info.project, info.run_id
    key = paths.run_json_key(project, run_id)
    if offline:
        return Run(store=store, info=info, resumed=False, offline=True, **options)
    if resume == "must":
        existing = read_run_info(store, key)
        if existing is None:
            raise RunError(
                f"resume='must' but run {project}/{run_id} does not exist in {store.url}"
            )
        return _resume(store, existing, config, **options)
    created = store.put_if_absent(key, encode_run_info(info))
    if created:
        return Run(store=store, info=info, resumed=False, **options)
    if resume == "allow":
        existing = read_run_info(store, key)
        assert existing is not None
        return _resume(store, existing, config, **options)
    hint = "use resume='allow' or 'must' to continue it" if resume is None else "pick another id"
    raise RunError(f"run {project}/{run_id} already exists in {store.url}: {hint}")


_LAUNCHERS = (
    ("RANK", "WORLD_SIZE"),
    ("SLURM_PROCID", "SLURM_NTASKS"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
)


def _shard_id(shard: str | bool | None) -> str | None:
    """The shard id ``init`` was given, or the launcher's rank (see ``init``)."""
    if shard is False or shard == "":
        return None
    if shard is None:
        env = os.environ.get("TABLELOG_SHARD")
        if env:
            shard = env
        else:
            for rank, size in _LAUNCHERS:
                r, n = os.environ.get(rank, ""), os.environ.get(size, "")
                if r.isdigit() and n.isdigit() and int(n) > 1:
                    return f"rank-{int(r):05d}"
            return None
    if shard is True or not isinstance(shard, str):
        raise RunError(f"shard must be a shard id (a string), False or None, got {shard!r}")
    return paths.check_segment_name("shard", shard)


def _resume(store: Store, info: RunInfo, config: Mapping[str, Any] | None, **options: Any) -> Run:
    merged = {**info.config, **_plain_config(config)}
    # run.json's last_step is written by finish() only: after a crash (or a finish
    # while the store was away) the chains themselves say how far the run got.
    steps = [s for s in (info.last_step, committed_last_step(store, info)) if s is not None]
    info = dataclasses.replace(
        info,
        config=merged,
        status="running",
        updated=time.time(),
        last_step=max(steps) if steps else None,
    )
    store.put(paths.run_json_key(info.project, info.run_id), encode_run_info(info))
    return Run(store=store, info=info, resumed=True, **options)


def _filter_config(
    config: Any, include: Sequence[str] | None, exclude: Sequence[str] | None
) -> dict[str, Any] | None:
    if config is None:
        return None
    if isinstance(config, str | os.PathLike):
        raise RunError(
            f"config={config!r}: a config file path is not supported; load it and pass a dict"
        )
    try:
        items = dict(as_mapping(config))
    except RunError:
        raise RunError(f"config must be a dict, got {type(config).__name__}") from None
    if include:
        items = {k: v for k, v in items.items() if k in set(include)}
    if exclude:
        items = {k: v for k, v in items.items() if k not in set(exclude)}
    check_text("config", items, RunError)  # (run.json is UTF-8)
    return items


def _wandb_fields(
    tags: Sequence[str] | None, notes: str | None, group: str | None, job_type: str | None
) -> dict[str, Any]:
    if tags is not None and (isinstance(tags, str) or not isinstance(tags, Sequence)):
        raise RunError(f"tags must be a list of strings, got {tags!r}")
    out: dict[str, Any] = {"tags": tuple(str(t) for t in tags or ())}
    for arg, value in (("notes", notes), ("group", group), ("job_type", job_type)):
        if value is not None and not isinstance(value, str):
            raise RunError(f"{arg} must be a string, got {value!r}")
        out[arg] = value
    for arg, value in out.items():
        check_text(arg, value, RunError)
    return out


def committed_last_step(store: Store, info: RunInfo) -> int | None:
    """The largest step of the newest version of each table of the run (its shards
    included): one listing, then one search and one manifest per table."""
    prefix = paths.tables_prefix(info.project, info.run_id)
    names = {k[len(prefix) :].split("/", 1)[0] for k in store.list(prefix) if k.startswith(prefix)}
    steps = []
    for name in sorted(n for n in names if n):
        ref = TableRef(store, info.project, info.run_id, paths.decode(name))
        latest = latest_version(ref)
        if latest >= 0:
            step = ref.read_manifest(latest)[0].step
            if step is not None:
                steps.append(step)
    return max(steps, default=None)


def _plain_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    if not config:
        return {}
    try:
        return dict(json.loads(json.dumps(dict(config), default=str, allow_nan=False)))
    except ValueError as e:
        raise RunError(f"config must be JSON-serialisable without NaN/inf: {e}") from e
