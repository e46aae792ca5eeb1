"""MESS+ on the authors' Llama logs with the paper's absolute V = 1e-4 J^-1 and with
``messjax evaluate``'s unit-free default (relative V = 0.16): the same trade-off?

    python experiments/relative_v_check.py --data-dir $MESSJAX_DATA_DIR

Paper alphas, seeds 42-44, c = 0.1, MiniLM features (hashed if the weights are missing), the
paper's settings otherwise (``messjax reproduce``'s streams). Prints per task and the mean over
the 8 tasks: cost (MJ), satisfaction and how many tasks meet alpha (within 1 point).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from messjax.paper import PAPER_C, PAPER_V, SEEDS
from messjax.runs.eval_setup import DEFAULT_RELATIVE_V, load_table, paper_streams
from messjax.runs.evaluate import default_featurizer, run_messplus
from messjax.runs.experiment import table_features


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("MESSJAX_DATA_DIR"))
    args = p.parse_args()
    table, zoo = load_table("llama3", args.data_dir)
    x = table_features(table, default_featurizer())
    streams = [s for s, _ in paper_streams(table, zoo, "main")]
    for V, relative in ((PAPER_V, 0), (DEFAULT_RELATIVE_V, 1)):
        costs, sats, met, near = [], [], 0, 0
        t0 = time.perf_counter()
        for spec in streams:
            s = run_messplus(table, x, spec, list(SEEDS), V, PAPER_C, relative_V=relative).summary
            cost, sat = float(np.mean(s.total_cost)) / 1e6, float(np.mean(s.satisfaction))
            costs.append(cost)
            sats.append(sat)
            met += sat >= spec.alpha - 1e-6
            near += sat >= spec.alpha - 0.01
            print(f"  V={V:g} relative_V={relative} {spec.name}: {cost:.3f} MJ {100 * sat:.1f}%")
        print(
            f"V={V:g} relative_V={relative}: mean {np.mean(costs):.3f} MJ, "
            f"{100 * np.mean(sats):.1f}%, meets alpha on {met} (within 1 pt: {near}) of "
            f"{len(streams)} ({time.perf_counter() - t0:.0f} s)"
        )


if __name__ == "__main__":
    main()
