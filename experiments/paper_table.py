"""The paper's main table (MESSPLUS.md section 6) from a ``messjax reproduce`` output.

Reads ``DIR/table.csv`` and prints, in the paper's layout, ARC-Challenge, BoolQ and the mean
over the tasks (cost MJ / satisfaction %) with the call shares, ours beside the paper's:

    messjax reproduce --zoo llama3 --data-dir /work/shared/data --out results/llama3
    python experiments/paper_table.py results/llama3
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from messjax.outputs.method_table import PAPER_METHOD, read_csv
from messjax.paper import PAPER_RESULTS

COLUMNS = (("arc_challenge", "ARC-C"), ("boolq", "BoolQ"), ("mean", "mean"))


def _cell(cost, sat) -> str:
    if cost is None or np.isnan(cost):
        return ""
    return f"{cost:.2f} / {sat:.1f}%"


def paper_layout(rows: list[dict], paper: bool = True) -> str:
    """Markdown: one line per method, ``ours (paper)`` per column."""
    models = [k[len("share_") :] for k in rows[0] if k.startswith("share_")]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    head = " | ".join(f"{label} cost / sat" for _, label in COLUMNS)
    calls = "/".join(reversed(models))
    lines = [
        f"| method | {head} | calls % {calls} | tasks meeting α |",
        "|---|" + "---|" * (len(COLUMNS) + 2),
    ]
    for method in methods:
        sel = {r["task"]: r for r in rows if r["method"] == method}
        cells = []
        for key, _ in COLUMNS:
            if key == "mean":
                if len(sel) != len(tasks):
                    cells.append("")
                    continue
                ours = _cell(
                    np.mean([r["cost_mj"] for r in sel.values()]),
                    100 * np.mean([r["satisfaction"] for r in sel.values()]),
                )
            else:
                r = sel.get(key)
                ours = _cell(r["cost_mj"], 100 * r["satisfaction"]) if r else ""
            ref = PAPER_RESULTS.get(PAPER_METHOD.get(method, ""), {}).get(key) if paper else None
            cells.append(ours + (f" ({_cell(*ref)})" if ref else ""))
        shares = "/".join(
            f"{100 * np.mean([r[f'share_{m}'] for r in sel.values()]):.0f}"
            for m in reversed(models)
        )
        met = sum(r["satisfaction"] >= r["alpha"] - 1e-6 for r in sel.values())
        lines.append(f"| {method} | {' | '.join(cells)} | {shares} | {met} of {len(sel)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="output folder of messjax reproduce")
    parser.add_argument("--no-paper", action="store_true", help="omit the paper's numbers")
    args = parser.parse_args()
    rows = read_csv(args.dir / "table.csv")
    print(f"{args.dir}: ours (paper), cost MJ / satisfaction %")
    print(paper_layout(rows, paper=not args.no_paper))


if __name__ == "__main__":
    main()
