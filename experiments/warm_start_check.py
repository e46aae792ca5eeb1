"""The warm start on the authors' logs: each task as a one-task zoo, as `messjax evaluate` would
split it (a seeded quarter trains, split seed 42), messjax cold and warm-started on the quarter.

    MESSJAX_DATA_DIR=... python experiments/warm_start_check.py [--seeds 10] \
        [--out results/warm_start_check.md]

Per zoo (llama3, qwen2; the tasks with the paper's alphas) and task: mean cost over seeds
(MJ), mean and worst final satisfaction minus alpha (pt), cold and warm, on the same request
orders and coins (the 75 % test part of each task).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from messjax.fileio import atomic_write_text


def main() -> int:
    from messjax_ablation import (  # this folder: the one runner and its bar counts
        bar_counts,
        run_streams,
        split_history,
    )

    from messjax.runs.eval_setup import (
        Alphas,
        build_streams,
        load_table,
        paper_streams,
        zoo_alphas,
    )
    from messjax.runs.experiment import table_features

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--out", default="results/warm_start_check.md")
    ap.add_argument(
        "--other-tasks",
        default="100,1000",
        help="also: leave-one-task-out streams warm-started on this many rows of the other "
        "tasks (comma-separated; empty: skip)",
    )
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    def cold(spec):
        return None

    seeds = list(range(42, 42 + args.seeds))
    t0 = time.time()
    lines = [
        "# messjax cold and warm-started on one-task splits of the authors' logs "
        "(`experiments/warm_start_check.py`)",
        "",
        f"Seeds {seeds[0]}-{seeds[-1]}; each task alone, 25 % (split seed 42) as history, "
        "scored on the other 75 %; paper alphas; MiniLM features; default setting. "
        "Gap = final satisfaction - alpha (pt), mean over seeds and worst seed.",
        "",
        "| zoo | task | α | cold MJ | cold gap mean / worst | warm MJ | warm gap mean / worst |",
        "|---|---|---|---|---|---|---|",
    ]
    summary_lines = []
    for zoo in ("llama3", "qwen2"):
        table, name = load_table(zoo, args.data_dir)
        x = table_features(table, "minilm")
        tot = {"cold": [], "warm": []}
        for task in [t for t in table.task_names if t in zoo_alphas(name)]:
            rows = np.flatnonzero(table.tasks == task)
            one, xi = table.take(rows), x[rows]
            ((spec, _),) = build_streams(one, [task], Alphas(paper=True), "tasks", name)
            assert spec.train_is_split
            cols = []
            for mode, history in (("cold", cold), ("warm", split_history)):
                result = run_streams(one, xi, [spec], seeds, {}, history)
                tot[mode].append(bar_counts([spec], result))  # (MJ, within 0.5 pt, floor)
                gap = 100 * (np.asarray(result[0][1]) - spec.alpha)
                cols += [f"{tot[mode][-1][0]:.3f}", f"{gap.mean():+.2f} / {gap.min():+.2f}"]
            lines.append(f"| {zoo} | {task} | {spec.alpha:g} | " + " | ".join(cols) + " |")
            print(lines[-1], f"({time.time() - t0:.0f} s)", flush=True)
        for mode, v in tot.items():
            summary_lines.append(
                f"| {zoo} | {mode} | {np.mean([c for c, _, _ in v]):.3f} | "
                f"{sum(b for _, b, _ in v)} / {len(v)} | {sum(f for _, _, f in v)} / {len(v)} |"
            )
    sizes = [int(h) for h in args.other_tasks.split(",") if h.strip()]
    other_lines = []
    for zoo in ("llama3", "qwen2") if sizes else ():
        table, name = load_table(zoo, args.data_dir)
        x = table_features(table, "minilm")
        streams = [sp for sp, _ in paper_streams(table, name, "main")]
        for h in [0, *sizes]:

            def other_tasks(spec, h=h):  # h rows of the other tasks, a seeded sample
                return np.random.default_rng(7).permutation(spec.train_index)[:h] if h else None

            results = run_streams(table, x, streams, seeds, {}, other_tasks)
            cost, near, floor = bar_counts(streams, results)
            start = "cold" if not h else f"{h} rows of the other tasks"
            other_lines.append(
                f"| {zoo} | {start} | {cost:.3f} | {near} / {len(streams)} | "
                f"{floor} / {len(streams)} |"
            )
            print(other_lines[-1], f"({time.time() - t0:.0f} s)", flush=True)
    head = [
        "| zoo | start | mean cost MJ | tasks within 0.5 pt | tasks with no seed below -1.5 pt |",
        "|---|---|---|---|---|",
    ]
    lines += [
        "",
        *head,
        *summary_lines,
    ]
    if other_lines:
        lines += [
            "",
            "Leave-one-task-out streams (the whole task scored, paper alphas), warm-started on a "
            "seeded sample of the other tasks' rows instead (what `evaluate` does not do):",
            "",
            *head,
            *other_lines,
        ]
    lines += [
        "",
        f"Wall time: {time.time() - t0:.0f} s.",
    ]
    out = atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
