"""The README's lead figure: cost against satisfaction per method and task, alpha marked.

Reads ``table.csv`` of ``messjax reproduce`` runs and draws one panel per task: x = total cost
(MJ, log scale), y = final satisfaction minus alpha (points; mean over seeds, bars = std over
seeds); the dashed line is alpha, the shaded band alpha - 0.5 pt.

    python experiments/messjax_figure.py results/llama3 [results/qwen2 ...] \
        --out results/messjax_comparison.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from messjax.fileio import atomic_savefig

METHODS = {
    "messjax": ("C3", "*", 11),
    "messplus": ("C0", "o", 7),
    "single-medium": ("C2", "s", 6),
    "single-large": ("C7", "s", 6),
    "mixture-lp": ("C1", "D", 6),
    "random-constraint": ("C1", "D", 6),  # the name of mixture-lp in older tables
    "oracle": ("k", "x", 6),
    "routellm-train": ("C4", "^", 6),
    "routerdc-train": ("C5", "v", 6),
}


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from messjax.outputs.method_table import read_csv

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--out", default="results/messjax_comparison.png")
    args = ap.parse_args()
    runs = [(Path(d).name, read_csv(Path(d) / "table.csv")) for d in args.dirs]
    tasks = [(name, t) for name, rows in runs for t in dict.fromkeys(r["task"] for r in rows)]
    cols = 4
    nrows = -(-len(tasks) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.0 * cols, 3.0 * nrows), dpi=90)
    axes = axes.ravel()
    for ax, (name, task) in zip(axes, tasks, strict=False):
        rows = {r["method"]: r for n, rs in runs if n == name for r in rs if r["task"] == task}
        alpha = next(iter(rows.values()))["alpha"]
        ax.axhspan(-0.5, 0, color="0.9")
        ax.axhline(0, color="k", ls="--", lw=1)
        for method, (color, marker, size) in METHODS.items():
            r = rows.get(method)
            if r is None:
                continue
            hind = bool(r.get("hindsight"))
            gap = 100 * (r["satisfaction"] - alpha)
            ax.errorbar(
                r["cost_mj"],
                gap,
                xerr=r["cost_std"],
                yerr=100 * r["satisfaction_std"],
                fmt=marker,
                color=color,
                mfc="none" if hind else color,
                ms=size,
                capsize=2,
                label=method + (" *" if hind else ""),
            )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        lo_x, hi_x = ax.get_xlim()
        narrow = hi_x / lo_x < 10  # no decade tick inside: label the minor ticks
        ax.xaxis.set_minor_formatter(
            matplotlib.ticker.FormatStrFormatter("%g")
            if narrow
            else matplotlib.ticker.NullFormatter()
        )
        ax.set_title(f"{name}: {task} (α = {alpha:g})", fontsize=9)
        lo = min(-4.0, ax.get_ylim()[0])
        ax.set_ylim(max(lo, -12), max(4.0, ax.get_ylim()[1]))
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(labelsize=7)
    for ax in axes[len(tasks) :]:
        ax.axis("off")
    for ax in axes[::cols]:
        ax.set_ylabel("satisfaction − α (points)", fontsize=8)
    for ax in axes[-cols:]:
        ax.set_xlabel("total cost (MJ, log)", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(
        "messjax vs MESS+ and baselines (mean ± std over seeds; * = hindsight; "
        "grey band: within 0.5 pt of α)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    out = atomic_savefig(fig, args.out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
