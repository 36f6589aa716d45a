"""A smoke test of the core on whatever versions are installed (CI runs it on the lowest
declared versions: .ci/run's floors job). Exits non-zero with the failing step.

Import, log the three table modes to a local folder, read them back (scan at a version and
at a step, history, a filter), compact, export Parquet and HTML, verify.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main() -> None:
    import numpy as np
    import polars as pl
    import pyarrow as pa

    import tablelog

    print(
        f"smoke: python {sys.version.split()[0]}, polars {pl.__version__}, "
        f"pyarrow {pa.__version__}, tablelog {tablelog.__version__}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = str(Path(tmp, "root"))
        with tablelog.init(project="smoke", root=root, config={"lr": 0.1}) as run:
            # (an array column: its later logs take the one-call conversion of plain rows)
            train = tablelog.Table(columns=["step", "text", "score", "emb"], log_mode="INCREMENTAL")
            for step in range(5):
                for i in range(3):
                    emb = np.full(2, step + i, dtype=np.float32)
                    train.add_data(step, f"s{step}-{i}", step + i / 10, emb)
                run.log({"train": train, "loss": 1.0 / (step + 1)}, step=step)
                if step < 2:  # (versions of their own: compact below has a chain to merge,
                    run.flush()  # however the commit thread groups the other logs)
            ev = tablelog.Table(columns=["x", "y"], log_mode="MUTABLE")
            for i in range(4):
                ev.add_data(i, [float(i), None])
            run.log({"eval": ev})
            ev.add_column("z", [str(i) for i in range(4)])
            run.log({"eval": ev})
            run.log({"final": tablelog.Table(columns=["a"], data=[[1], [2]])})
        path = run.path
        lf = tablelog.scan(f"{path}/train", root=root)
        assert lf.select(pl.len()).collect().item() == 15
        assert tablelog.scan(f"{path}/train", root=root, step=1).collect().height == 6
        got = lf.filter(pl.col("step") == 4).select("text").collect()["text"].to_list()
        assert got == ["s4-0", "s4-1", "s4-2"], got
        embs = lf.filter(pl.col("step") == 4).select("emb").collect()["emb"].to_list()
        assert [list(e) for e in embs] == [[4.0, 4.0], [5.0, 5.0], [6.0, 6.0]], embs
        ev_df = tablelog.scan(f"{path}/eval", root=root).collect()
        assert ev_df.columns[:3] == ["x", "y", "z"] and ev_df["y"].to_list()[1] == [1.0, None]
        assert tablelog.scan(f"{path}/eval", root=root, version=0).collect().width == 2
        assert tablelog.history(f"{path}/eval", root=root).height == 2
        assert tablelog.scan(f"{path}/_history", root=root).collect().height == 5
        assert tablelog.scan(f"{path}/final", root=root).collect()["a"].to_list() == [1, 2]
        assert tablelog.compact(f"{path}/train", root=root).compacted
        assert tablelog.scan(f"{path}/train", root=root).collect().height == 15
        from tablelog.read.export import export

        export(f"{path}/eval", str(Path(tmp, "eval.parquet")), root=root)
        assert pl.read_parquet(Path(tmp, "eval.parquet")).height == 4
        export(f"{path}/eval", str(Path(tmp, "eval.html")), root=root)
        assert "<html" in Path(tmp, "eval.html").read_text().lower()
        report = tablelog.verify("", root=root, deep=True)
        assert report.ok, report.problems
    print("smoke: ok")


if __name__ == "__main__":
    main()
