"""The analysis workflow end to end: scan a table across runs, filter, join with the
runs' history (their scalars), and plot.

    python docs/analysis_example.py [ROOT] [--out DIR]

ROOT is a folder or an s3:// URL (default ./tablelog-data; S3 settings from AWS_*).
When ROOT has no project ``analysis-demo`` yet, three short training runs are logged
into it first. The figure data is written to DIR/accuracy_vs_loss.csv; with matplotlib
installed (it is not a tablelog dependency) the figure itself goes to
DIR/accuracy_vs_loss.png. In a notebook, run the cells of ``analyse`` one by one:
``tablelog.Table`` and the Polars frames below display as HTML tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
from pathlib import Path

import polars as pl

import tablelog

PROJECT = "analysis-demo"


def log_demo_runs(root: str) -> None:
    """Three runs with different learning rates: an INCREMENTAL eval table each step,
    and the loss as a scalar (it goes to the run's ``_history`` table)."""
    for n, lr in enumerate((0.1, 0.03, 0.01)):
        rng = random.Random(n)
        with tablelog.init(project=PROJECT, root=root, name=f"lr={lr}", config={"lr": lr}) as run:
            evals = tablelog.Table(
                columns=["input", "label", "prediction", "confidence"], log_mode="INCREMENTAL"
            )
            for step in range(5):
                skill = min(0.95, 0.5 + lr * 4 * (step + 1))  # higher lr learns faster here
                for i in range(20):
                    label = rng.randint(0, 1)
                    right = rng.random() < skill
                    evals.add_data(
                        f"sample {step}-{i}",
                        label,
                        label if right else 1 - label,
                        round(rng.uniform(0.5, 1.0) if right else rng.uniform(0.0, 0.7), 3),
                    )
                run.log(
                    {"eval": evals, "loss": round(1.0 / (1 + lr * 10 * (step + 1)), 4)}, step=step
                )


def analyse(root: str) -> pl.DataFrame:
    """Accuracy of confident predictions per run and step, next to that step's loss."""
    # 1. One table across every run of the project: a lazy frame with a run_id column.
    evals = tablelog.scan_runs(f"{PROJECT}/*/eval", root=root)
    # 2. Filter and aggregate lazily (the filter reaches the Parquet reader). The
    #    _increment column says which log (here: which step) added each row.
    accuracy = (
        evals.filter(pl.col("confidence") >= 0.5)
        .group_by("run_id", "_increment")
        .agg(
            (pl.col("prediction") == pl.col("label")).mean().alias("accuracy"),
            pl.len().alias("confident"),
        )
        .rename({"_increment": "step"})
    )
    # 3. The runs' scalars: each run's _history table has _step and the logged values.
    history = tablelog.scan_runs(f"{PROJECT}/*/_history", root=root).select(
        "run_id", pl.col("_step").alias("step"), "loss"
    )
    # 4. Join them and collect (only now is data read).
    return (
        accuracy.join(history, on=["run_id", "step"], how="inner").sort("run_id", "step").collect()
    )


def plot(frame: pl.DataFrame, out: Path) -> list[Path]:
    """The figure data as CSV always; the figure as PNG when matplotlib is installed."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "accuracy_vs_loss.csv"]
    frame.write_csv(written[0])
    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: wrote the figure data only", file=sys.stderr)
        return written
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (run_id,), part in frame.group_by("run_id", maintain_order=True):
        ax.plot(part["loss"], part["accuracy"], marker="o", label=str(run_id))
    ax.set_xlabel("loss")
    ax.set_ylabel("accuracy of confident predictions")
    ax.invert_xaxis()
    ax.legend(title="run")
    fig.tight_layout()
    written.append(out / "accuracy_vs_loss.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default="tablelog-data", help="store folder or URL")
    parser.add_argument("--out", default=".", help="folder for the figure (default .)")
    args = parser.parse_args(argv)
    try:
        tablelog.scan_runs(f"{PROJECT}/*/eval", root=args.root)
    except tablelog.NotFoundError:
        log_demo_runs(args.root)
    frame = analyse(args.root)
    with pl.Config(tbl_rows=-1):
        print(frame)
    for path in plot(frame, Path(args.out)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
