"""Ablation: the paper's online predictor vs. the same with an exploration replay buffer.

Faithful MESS+ (V = 1e-4, c = 0.1, the paper's alphas and predictor presets, MiniLM features,
seeds 42/43/44) on the eight Llama-zoo tasks, with ``replay = 0`` (the paper) and
``replay = 256`` (16 examples per gradient step). Prints mean cost (MJ) and satisfaction (%).

    python experiments/replay_ablation.py [--data-dir DIR] [--replay 256] [--batch 16]
"""

from __future__ import annotations

import argparse
import os

from messjax.core.sweep import make_grid
from messjax.data import load_zoo
from messjax.paper import PAPER_ALPHA, PAPER_TASKS, SEEDS, predictor_preset
from messjax.runs.experiment import sweep_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("MESSJAX_DATA_DIR"))
    ap.add_argument("--replay", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    zoo = load_zoo("llama3", args.data_dir)
    print(
        f"{'task':<14} {'alpha':>5}  {'paper: MJ':>9} {'sat %':>6}  {'replay: MJ':>10} {'sat %':>6}"
    )
    for task in PAPER_TASKS:
        table = zoo.select_task(task)
        epochs, lr, momentum = predictor_preset(task)
        grid = make_grid(
            SEEDS,
            alpha=PAPER_ALPHA[task],
            V=1e-4,
            c=0.1,
            learning_rate=lr,
            epochs=epochs,
            momentum=momentum,
        )
        cols = []
        for replay in (0, args.replay):
            s = sweep_table(
                table, grid, featurizer="minilm", replay=replay, replay_batch=args.batch
            ).summary
            cols += [s.total_cost.mean() / 1e6, 100 * s.satisfaction.mean()]
        print(
            f"{task:<14} {PAPER_ALPHA[task]:>5}  {cols[0]:>9.3f} {cols[1]:>6.1f}  "
            f"{cols[2]:>10.3f} {cols[3]:>6.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
