"""A typical W&B training script (module-level wandb.log with scalars, a DataFrame,
images and an INCREMENTAL table) runs unchanged into a local root and into SeaweedFS,
and everything it logged reads back (#17)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tablelog
from tablelog import media

SCRIPT = Path(__file__).parent.parent / "wandb_examples" / "typical_training.py"


@pytest.mark.parametrize("kind", ["local", pytest.param("seaweedfs", marks=pytest.mark.s3)])
def test_typical_training_script_runs_unchanged_and_reads_back(
    kind: str, make_root: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = make_root(kind)
    monkeypatch.setenv("TABLELOG_ROOT", where.root)
    for k, v in where.env.items():
        monkeypatch.setenv(k, v)
    runpy.run_path(str(SCRIPT), run_name="__main__")
    assert tablelog.run is None  # finish() cleared the current run

    runs = tablelog.runs("typical")
    assert runs.height == 1
    row = runs.row(0, named=True)
    rid = row["run_id"]
    assert row["status"] == "finished" and row["tags"] == ["baseline"]
    assert (row["notes"], row["group"], row["job_type"]) == ("smoke", "g1", "train")
    assert row["config.lr"] == 1e-3 and row["config.optimizer.name"] == "adam"
    assert row["config.seed"] == 0 and row["config.epochs"] == 3
    assert row["summary.val/loss.min"] == pytest.approx(0.5 / 3)
    assert row["summary.val/acc"] == pytest.approx(0.8)
    assert row["summary.best_epoch"] == 2

    hist = tablelog.scan(f"typical/{rid}/_history").collect().sort("_step")
    train = hist.filter(hist["train/loss"].is_not_null())
    # commit=False + the next log made one row per step: 12 training steps
    assert train.height == 12 and train["train/lr"].to_list() == [1e-3] * 12
    assert train["train/loss"].to_list() == pytest.approx([1 / (1 + s) for s in range(12)])
    val = hist.filter(hist["val/acc"].is_not_null())
    assert val["val/acc"].to_list() == pytest.approx([0.6, 0.7, 0.8])
    images = media.load_many(val["samples"].to_list(), to="media")
    assert [i.caption for i in images] == ["epoch 0", "epoch 1", "epoch 2"]
    assert all(i.to_numpy().shape == (8, 8, 3) for i in images)

    preds = tablelog.scan(f"typical/{rid}/predictions").collect()
    assert preds.height == 6 and preds["id"].to_list() == [
        f"{e}-{i}" for e in range(3) for i in range(2)
    ]
    pixels = media.load(preds["image"][0], to="numpy")
    assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8
    # One increment per log (the commit thread may have put several in one version),
    # logged at each epoch's val step (after its 4 training steps), each read back alone.
    incs = tablelog.history(f"typical/{rid}/predictions", per="increment")
    assert incs["increment"].to_list() == [0, 1, 2] and incs["rows"].to_list() == [2, 2, 2]
    assert incs["step"].to_list() == [4, 9, 14] == val["_step"].to_list()
    for epoch in range(3):
        inc = tablelog.scan(f"typical/{rid}/predictions", increment=epoch).collect()
        expected = [(epoch, f"{epoch}-{i}", i, i % 2, epoch) for i in range(2)]
        assert inc.drop("image").rows() == expected  # (epoch, id, pred, label, _increment)

    per_class = tablelog.scan(f"typical/{rid}/per_class").collect()
    assert per_class.to_dicts() == [
        {"class": "cat", "precision": 0.8, "recall": 0.75},
        {"class": "dog", "precision": 0.7, "recall": 0.9},
    ]
