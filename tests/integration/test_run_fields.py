"""run.config / run.summary / W&B fields in run.json: when they are written, and how
they read back (#17; docs/format.md "Runs", docs/wandb.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import tablelog
from tablelog.format import paths
from tablelog.objects import open_store
from tablelog.writer import run as run_module


def _run_json(where: Any, project: str, run_id: str) -> dict[str, Any]:
    store = open_store(where.root, storage_options=where.storage_options)
    return dict(json.loads(store.get(paths.run_json_key(project, run_id))))


@pytest.mark.parametrize("kind", ["local", pytest.param("moto", marks=pytest.mark.s3)])
def test_summary_and_config_are_rewritten_while_running_not_per_log(
    kind: str, make_root: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = make_root(kind)
    monkeypatch.setattr(run_module, "PERSIST_EVERY", 3600.0)
    run = where.init(project="fields", config={"lr": 0.1}, tags=["t"], group="g")
    for i in range(20):
        run.log({"loss": 1.0 / (i + 1)})
    run.config.update({"layers": 2})
    run.flush()
    info = _run_json(where, "fields", run.id)
    assert "summary" not in info and info["config"] == {"lr": 0.1}  # not a PUT per log
    assert (info["tags"], info["group"]) == (["t"], "g")
    monkeypatch.setattr(run_module, "PERSIST_EVERY", 0.0)
    run.log({"loss": 0.01})
    run.flush()
    info = _run_json(where, "fields", run.id)
    assert info["status"] == "running"
    assert info["summary"] == {"loss": 0.01} and info["config"] == {"lr": 0.1, "layers": 2}
    row = tablelog.runs("fields", **where.kw()).row(0, named=True)
    assert (row["status"], row["summary.loss"], row["config.layers"]) == ("running", 0.01, 2)
    run.finish()
    assert _run_json(where, "fields", run.id)["status"] == "finished"


def test_resume_keeps_config_and_summary(local: Any) -> None:
    with local.init(project="fields", id="r1", config={"lr": 0.1}) as run:
        run.log({"loss": 0.5})
        run.summary["best"] = 3
    with local.init(project="fields", id="r1", resume="must", config={"bs": 8}) as run:
        assert dict(run.config) == {"lr": 0.1, "bs": 8}
        assert run.summary["loss"] == 0.5 and run.summary["best"] == 3
        run.log({"acc": 1.0})
    row = tablelog.runs("fields", **local.kw()).row(0, named=True)
    assert (row["summary.loss"], row["summary.acc"], row["config.bs"]) == (0.5, 1.0, 8)


def test_old_run_json_without_the_new_fields_reads(local: Any) -> None:
    with local.init(project="fields", id="old") as run:
        pass
    store = open_store(local.root)
    key = paths.run_json_key("fields", "old")
    info = json.loads(store.get(key))
    assert not {"summary", "tags", "notes", "group", "job_type"} & set(info)  # additive only
    row = tablelog.runs("fields", root=local.root).row(0, named=True)
    assert (row["run_id"], row["tags"], row["notes"]) == (run.id, [], None)


def test_runs_of_a_missing_project_is_not_found(local: Any) -> None:
    with pytest.raises(tablelog.NotFoundError):
        tablelog.runs("nothing-here", root=local.root)


def test_define_metric_aggregates_and_globs(local: Any) -> None:
    with local.init(project="fields") as run:
        run.define_metric("val/*", summary="min,max,mean,first,last")
        run.define_metric("score", summary="best", goal="maximize")
        run.define_metric("noisy", summary="none")
        for v in (3.0, 1.0, 2.0):
            run.log({"val/loss": v, "score": v, "noisy": v})
    assert run.summary["val/loss"] == {
        "min": 1.0,
        "max": 3.0,
        "mean": 2.0,
        "first": 3.0,
        "last": 2.0,
    }
    assert run.summary["score"] == {"best": 3.0} and "noisy" not in run.summary
    with pytest.raises(tablelog.Error, match="summary must be among"):
        tablelog.Run.define_metric(run, "x", summary="median")
