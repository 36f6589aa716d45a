"""The demo: a small training loop on the embedded local store, then a notebook's view.

Run with ``make demo`` (or ``python -m tablelog.demo``). It logs an INCREMENTAL
table every step, scalars, a MUTABLE evaluation table enriched twice, and a final
IMMUTABLE table into ``$TABLELOG_ROOT`` (default ``./tablelog-data``), then reads
everything back with Polars as a notebook would.
"""

from __future__ import annotations

import math
import os
import random
import sys
from pathlib import Path

import polars as pl

import tablelog


def main() -> None:
    rng = random.Random(0)
    with tablelog.init(project="demo", config={"lr": 3e-4, "epochs": 20}) as run:
        train = tablelog.Table(
            columns=["step", "input", "label", "prediction"], log_mode="INCREMENTAL"
        )
        for step in range(20):
            for i in range(8):
                label = rng.randint(0, 1)
                train.add_data(step, f"sample {step}-{i}", label, rng.random())
            loss = 1.0 / math.sqrt(step + 1)
            run.log({"training_table": train, "loss": loss}, step=step)

        evaluation = tablelog.Table(columns=["input", "label", "prediction"], log_mode="MUTABLE")
        for i in range(10):
            evaluation.add_data(f"eval {i}", i % 2, rng.random())
        run.log({"eval/predictions": evaluation})
        confidences = [abs(p - 0.5) * 2 for p in evaluation.get_column("prediction")]
        evaluation.add_column("confidence", confidences)
        run.log({"eval/predictions": evaluation})
        evaluation.add_column("final", [int(c > 0.7) for c in confidences])
        run.log({"eval/predictions": evaluation})

        final = tablelog.Table(columns=train.columns, data=train.data, log_mode="IMMUTABLE")
        run.log({"training_table_final": final})

    path = f"{run.path}"
    pl.Config.set_tbl_rows(8)
    print(f"logged run {path} into {run.root}\n")
    print("history of eval/predictions (one row per version):")
    print(
        tablelog.history(f"{path}/eval/predictions").select(
            "version", "step", "mode", "rows", "columns", "added_rows"
        )
    )
    print("\nlatest eval/predictions:")
    print(tablelog.scan(f"{path}/eval/predictions").collect())
    print("\ntraining_table, rows of increment 19 with label 1:")
    lf = tablelog.scan(f"{path}/training_table")
    print(lf.filter((pl.col("_increment") == 19) & (pl.col("label") == 1)).collect())
    print(
        "\ntraining_table as of step 4:",
        tablelog.scan(f"{path}/training_table", step=4).select(pl.len()).collect().item(),
        "rows",
    )
    print("\nloss from the run's history table:")
    print(tablelog.scan(f"{path}/_history").select("_step", "loss").tail(3).collect())
    _next_steps(path, str(run.root))


def _next_steps(path: str, root: str) -> None:
    """The commands to try next, with the CLI of this environment (.venv/bin/tablelog)."""
    exe = Path(sys.prefix, "bin", "tablelog")
    cli = os.path.relpath(exe) if exe.exists() else "tablelog"
    if cli.startswith(".."):
        cli = str(exe)
    eval_table = f"{path}/eval/predictions"
    print(f"\nthe tables are in {root}; next, try:")
    print(f"  {cli} ls {path}")
    print(f"  {cli} show {eval_table}")
    print(f"  {cli} history {path}/training_table")
    print(f"  {cli} export {eval_table} --to eval.html    # then open eval.html in a browser")
    print("and in Python: tablelog.scan(" + repr(eval_table) + ").collect()")


if __name__ == "__main__":
    main()
