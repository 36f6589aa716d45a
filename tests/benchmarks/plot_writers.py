"""Draw docs/writers_latency.png from ``bench_writers.py --latency ... --json`` results.

    python tests/benchmarks/plot_writers.py docs/bench/writers_sharded.json \\
        docs/bench/writers_shared.json [--out docs/writers_latency.png]

Commits/s against writers (log-log) for each JSON file given (one layout each: sharded
or one shared chain, read from the rows), measured as points and the model of
docs/scaling.md at the same emulated latencies as lines. Needs matplotlib (dev extra).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def label(rows: list[dict[str, Any]]) -> str:
    return "sharded (a chain per writer)" if rows[0]["sharded"] else "one shared chain"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/writers_latency.png"))
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    colors = ["tab:blue", "tab:red", "tab:green", "tab:purple"]
    for color, path in zip(colors, args.results, strict=False):
        rows = sorted(json.loads(path.read_text()), key=lambda r: r["writers"])
        w = [r["writers"] for r in rows]
        name = label(rows)
        ax.plot(w, [r["model_commits_per_s"] for r in rows], "-", color=color, alpha=0.6,
                label=f"{name}: model")  # fmt: skip
        ax.plot(w, [r["commits_per_s"] for r in rows], "o", color=color, markersize=8,
                label=f"{name}: measured")  # fmt: skip
        for r in rows:
            note = f"{r['commits_per_s']:g}"
            if r.get("gave_up"):
                note += f"\n({r['gave_up']} gave up)"
            below = 6 if rows[0]["sharded"] else -16
            ax.annotate(note, (r["writers"], r["commits_per_s"]), textcoords="offset points",
                        xytext=(6, below), fontsize=8, color=color)  # fmt: skip
    loaded = {label(rows): rows for rows in (json.loads(p.read_text()) for p in args.results)}
    by_w = [
        {r["writers"]: r["commits_per_s"] for r in rows}
        for rows in (loaded.get("sharded (a chain per writer)"), loaded.get("one shared chain"))
        if rows
    ]
    if len(by_w) == 2 and by_w[0].get(64) and by_w[1].get(64):
        ratio = by_w[0][64] / by_w[1][64]
        ax.text(0.98, 0.5, f"64 writers: sharded / shared = {ratio:.0f}x", ha="right",
                transform=ax.transAxes, fontsize=9)  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks([1, 4, 16, 64], labels=["1", "4", "16", "64"])
    ax.set_xlim(0.8, 128)
    ax.set_xlabel("writers (processes)")
    ax.set_ylabel("commits/s (all writers together)")
    ax.set_title(
        args.title
        or "INCREMENTAL logs to one table, SeaweedFS behind emulated S3 latency\n"
        "(model: docs/scaling.md at the same latencies; 2-core machine)",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
