"""The seed document's seven examples, run unchanged with ``import tablelog as wandb``.

Each runs against a local folder, memory:// and a real S3 server (moto) as the
default root (TABLELOG_ROOT / AWS_* set as a user would), then every version it made
is read back and checked, and every log (increment) of an INCREMENTAL table, however
the logs were grouped into versions.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl

import tablelog
from tablelog.format.handle import list_runs
from tablelog.objects import open_store

EXAMPLES = Path(__file__).parent.parent / "wandb_examples"
N_EVAL, N_BATCHES, BATCH = 6, 4, 3


def _dummies() -> dict[str, Any]:
    rng = np.random.default_rng(0)

    def load_eval_data() -> tuple[list[str], list[int]]:
        return [f"sample-{i}" for i in range(N_EVAL)], [i % 3 for i in range(N_EVAL)]

    def predict(inputs: list[str]) -> np.ndarray:
        logits = rng.normal(size=(len(inputs), 3))
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    def get_training_batch(step: int) -> tuple[list[str], list[int]]:
        return [f"x{step}-{i}" for i in range(BATCH)], [(step + i) % 2 for i in range(BATCH)]

    return {
        "wandb": tablelog,
        "load_eval_data": load_eval_data,
        "model": SimpleNamespace(predict=predict),
        "get_num_batches": lambda: N_BATCHES,
        "get_training_batch": get_training_batch,
        "train_model_on_batch": lambda inputs, labels: None,
        "predict_on_batch": lambda inputs: [0.5 + 0.01 * i for i in range(len(inputs))],
        "compute_metric": lambda step: step * 0.25,
        "resume_step": 3,
        "final_step": 7,
    }


def _run(name: str) -> dict[str, Any]:
    return runpy.run_path(str(EXAMPLES / name), init_globals=_dummies())


def _only_run(where: Any, project: str) -> str:
    runs = list_runs(open_store(where.root), project)
    assert len(runs) == 1, runs
    return runs[0]


def _versions(where: Any, path: str) -> list[pl.DataFrame]:
    hist = tablelog.history(path, root=where.root)
    return [tablelog.scan(path, root=where.root, version=v).collect() for v in hist["version"]]


def _logs(where: Any, path: str) -> list[pl.DataFrame]:
    """An INCREMENTAL table as each of its logs left it: entry ``n`` holds the rows of
    logs 0 … n. The run's commit thread may put several logs in one version (group
    commit, docs/format.md "Format 2"), so each log is read on its own (``increment=``)
    and must hold the rows ``history(per="increment")`` says it added; the table at each
    log's step (``step=``; the examples' steps go up one a log) must be exactly logs
    0 … n; and every version must be exactly the logs up to the last one it holds."""
    kw = {"root": where.root}
    incs = tablelog.history(path, **kw, per="increment")
    assert incs["increment"].to_list() == list(range(incs.height))
    parts = [tablelog.scan(path, **kw, increment=i).collect() for i in incs["increment"]]
    assert [part.height for part in parts] == incs["rows"].to_list()
    logs = [pl.concat(parts[: n + 1]) for n in range(len(parts))]
    for step, log in zip(incs["step"], logs, strict=True):
        assert tablelog.scan(path, **kw, step=step).collect().equals(log)
    held = incs.group_by("version", maintain_order=True).agg(pl.col("increment").max())
    assert held["version"].to_list() == tablelog.history(path, **kw)["version"].to_list()
    for version, last in held.iter_rows():
        assert tablelog.scan(path, **kw, version=version).collect().equals(logs[last])
    return logs


def test_ex1_create_and_log(where_env: Any) -> None:
    _run("ex1_create_and_log.py")
    rid = _only_run(where_env, "table-demo")
    (v0,) = _versions(where_env, f"table-demo/{rid}/Table Name")
    assert v0.to_dicts() == [{"a": "a1", "b": "b1"}, {"a": "a2", "b": "b2"}]


def _check_mutable(where: Any, project: str, g: dict[str, Any]) -> None:
    rid = _only_run(where, project)
    v0, v1, v2 = _versions(where, f"{project}/{rid}/eval_table")
    assert v0.columns == ["input", "label", "prediction"]
    assert v1.columns == [*v0.columns, "confidence"]
    assert v2.columns == [*v1.columns, "final_prediction"]
    assert v0.height == v1.height == v2.height == N_EVAL
    assert v0["input"].to_list() == [f"sample-{i}" for i in range(N_EVAL)]
    np.testing.assert_allclose(np.array(v2["prediction"].to_list()), g["raw_preds"])
    np.testing.assert_allclose(v2["confidence"].to_numpy(), g["confidences"])
    assert v2["final_prediction"].to_list() == g["post_preds"].tolist()
    assert v2.drop("final_prediction").equals(v1)


def test_ex2_mutable_mode(where_env: Any) -> None:
    _check_mutable(where_env, "mutable-table-demo", _run("ex2_mutable_mode.py"))


def test_ex5_mutable_enrich(where_env: Any) -> None:
    _check_mutable(where_env, "mutable-logging", _run("ex5_mutable_enrich.py"))


def _check_incremental(where: Any, project: str, key: str, table: tablelog.Table) -> str:
    rid = _only_run(where, project)
    logs = _logs(where, f"{project}/{rid}/{key}")
    assert len(logs) == N_BATCHES
    for n, frame in enumerate(logs):
        assert frame.height == BATCH * (n + 1)
        # every row of logs 0 … n, exactly as the script added them to its Table
        assert frame.drop("_increment").rows() == [tuple(r) for r in table.data[: frame.height]]
        assert frame["_increment"].to_list() == [i // BATCH for i in range(frame.height)]
        assert frame["step"].to_list() == [i // BATCH for i in range(frame.height)]
        batches = [(i // BATCH, i % BATCH) for i in range(frame.height)]  # get_training_batch
        assert frame["input"].to_list() == [f"x{step}-{i}" for step, i in batches]
        assert frame["label"].to_list() == [(step + i) % 2 for step, i in batches]
    inc2 = tablelog.scan(f"{project}/{rid}/{key}", root=where.root, increment=2).collect()
    assert inc2["input"].to_list() == [f"x2-{i}" for i in range(BATCH)]
    at_step = tablelog.scan(f"{project}/{rid}/{key}", root=where.root, step=1).collect()
    assert at_step.height == 2 * BATCH
    return rid


def test_ex3_incremental_mode(where_env: Any) -> None:
    g = _run("ex3_incremental_mode.py")
    _check_incremental(where_env, "incremental-table-demo", "training_table", g["table"])


def test_ex7_incremental_batch_training(where_env: Any) -> None:
    g = _run("ex7_incremental_batch_training.py")
    _check_incremental(where_env, "batch-training-incremental", "training_table", g["table"])


def test_ex4_incremental_then_immutable(where_env: Any) -> None:
    g = _run("ex4_incremental_and_immutable.py")
    rid = _check_incremental(where_env, "combined-logging-example", "table-incr", g["incr_table"])
    (final,) = _versions(where_env, f"combined-logging-example/{rid}/table")
    assert final.columns == ["step", "input", "prediction", "label"]
    assert final.height == N_BATCHES * BATCH
    latest = tablelog.scan(f"combined-logging-example/{rid}/table-incr", root=where_env.root)
    assert latest.drop("_increment").collect().equals(final)
    assert g["final_table"].data == g["incr_table"].data


def test_ex6_resume_incremental(where_env: Any) -> None:
    # The page resumes a run that exists: make it, with increments for steps 0..2.
    with tablelog.init(project="resume-incremental", id="your-run-id") as first:
        t = tablelog.Table(columns=["step", "metric"], log_mode="INCREMENTAL")
        for step in range(3):
            t.add_data(step, step * 0.25)
            first.log({"metrics": t}, step=step)
    _run("ex6_resume_incremental.py")
    path = "resume-incremental/your-run-id/metrics"
    logs = _logs(where_env, path)
    assert len(logs) == 7
    for n, frame in enumerate(logs):
        assert frame["step"].to_list() == list(range(n + 1))
        assert frame["metric"].to_list() == [s * 0.25 for s in range(n + 1)]


def test_ex8_tables_walkthrough(where_env: Any) -> None:
    _run("ex8_tables_walkthrough.py")
    assert tablelog.run is None  # wandb.finish() cleared the current run
    rid = _only_run(where_env, "table-test")
    (rows,) = _versions(where_env, f"table-test/{rid}/Table Name")
    assert rows.rows() == [("a1", "b1"), ("a2", "b2")]
    (frame,) = _versions(where_env, f"table-test/{rid}/DataFrame Table")
    assert frame.to_dicts() == [{"city": "Oslo", "temp": 3.5}, {"city": "Lima", "temp": 19.0}]


def test_ex9_predictions_with_images(where_env: Any) -> None:
    import PIL.Image

    rng = np.random.default_rng(1)
    for i in range(4):
        PIL.Image.fromarray(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8)).save(f"img_{i}.jpg")
    digits = [rng.integers(0, 255, (6, 6), dtype=np.uint8) for _ in range(3)]
    g = runpy.run_path(
        str(EXAMPLES / "ex9_predictions_with_images.py"),
        init_globals={
            "mnist_test_data": digits,
            "mnist_test_data_labels": [3, 1, 4],
            "my_model": SimpleNamespace(predict=lambda img: int(img.sum()) % 10),
        },
    )
    rid = _only_run(where_env, "image-predictions")
    (df,) = _versions(where_env, f"image-predictions/{rid}/test_table")
    assert df.columns == ["id", "image", "prediction", "truth", "confidence"]
    assert df["id"].to_list() == list(range(7)) == g["ids"]
    files = tablelog.media.load_many(df["image"].to_list()[:4], root=where_env.root)
    assert files == [Path(f"img_{i}.jpg").read_bytes() for i in range(4)]
    arrays = tablelog.media.load_many(df["image"].to_list()[4:], root=where_env.root, to="numpy")
    assert all(np.array_equal(a, d) for a, d in zip(arrays, digits, strict=True))
    assert g["correct"] == [p == t for p, t in zip(df["prediction"], df["truth"], strict=True)]


def test_ex10_computed_columns(where_env: Any) -> None:
    _run("ex10_computed_columns.py")
    rid = _only_run(where_env, "computed")
    (df,) = _versions(where_env, f"computed/{rid}/my_table")
    assert df.rows() == [("geoff", 5), ("juergen", 7), ("ada", 3)]
