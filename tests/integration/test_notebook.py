"""Notebooks, issue 8: HTML representations and the analysis example in docs/."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
from test_export_html import EVIL, png

import tablelog

EXAMPLE = Path(__file__).parents[2] / "docs" / "analysis_example.py"


def test_table_repr_html_escapes_and_shows_thumbnails() -> None:
    t = tablelog.Table(
        columns=["text", "image", "meta", "score"],
        data=[[EVIL, png(5, 3), {"k": "<i>x</i>"}, 0.5], ["ok", None, {"k": "y"}, None]],
        log_mode="MUTABLE",
    )
    page = t._repr_html_()
    assert page.startswith("<div><style>") and page.endswith("</table></div>")
    assert "<script>" not in page and "<img src=x" not in page and "<i>x</i>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert page.count('<img src="data:image/png;base64,') == 1
    assert "Table · MUTABLE · 2 row(s)" in page and page.count("<tr>") == 3
    assert '<td class="null">null</td>' in page
    big = tablelog.Table(columns=["i"], data=[[i] for i in range(120)])
    assert "120 row(s), showing the first 50" in big._repr_html_()
    assert big._repr_html_().count("<tr>") == 51


def test_history_is_a_polars_frame_with_its_html(local: Any) -> None:
    """history() returns a Polars DataFrame: notebooks show it with Polars' own HTML
    (no wrapper type that would change the API)."""
    with local.init(project="p", sync=True) as run:  # (sync: a version per log)
        t = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
        for s in range(3):
            t.add_data(s)
            run.log({"t": t}, step=s)
    history = local.history(f"p/{run.id}/t")
    assert isinstance(history, pl.DataFrame) and history["version"].to_list() == [0, 1, 2]
    page = history._repr_html_()
    assert "<table" in page and "version" in page and "INCREMENTAL" in page


def test_analysis_example_runs(tmp_path: Path) -> None:
    root, out = tmp_path / "root", tmp_path / "figure"
    for _ in range(2):  # the second run reuses the runs the first one logged
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), str(root), "--out", str(out)],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"wrote {out / 'accuracy_vs_loss.csv'}" in done.stdout
    figure = pl.read_csv(out / "accuracy_vs_loss.csv")
    assert figure.columns == ["run_id", "step", "accuracy", "confident", "loss"]
    assert figure.height == 15 and figure["run_id"].n_unique() == 3
    assert figure["step"].to_list() == list(range(5)) * 3
    assert figure["accuracy"].is_between(0, 1).all() and (figure["confident"] > 0).all()
    runs = tablelog.scan_runs("analysis-demo/*/_history", root=str(root)).collect()
    assert runs["run_id"].n_unique() == 3  # not logged twice
    losses = sorted(figure.group_by("run_id").agg(pl.col("loss").first())["loss"].to_list())
    assert losses == [0.5, 0.7692, 0.9091]  # 1 / (1 + 10 lr) for lr = 0.1, 0.03, 0.01
    has_plot = importlib.util.find_spec("matplotlib") is not None
    assert (out / "accuracy_vs_loss.png").exists() == has_plot
