"""Time the paper grid (8 Llama tasks x 3 seeds x 3 alphas x 4 V x 3 c = 864 episodes) with the
messjax policy as one vmapped generic scan (issue 11; bench integration is left to `messjax bench`).

    MESSJAX_DATA_DIR=... python experiments/messjax_grid_timing.py
"""

import time

import numpy as np

from messjax.core import policy
from messjax.core.sweep import request_order
from messjax.paper import ALPHA_GRID
from messjax.runs.eval_setup import load_table, paper_streams
from messjax.runs.experiment import table_features

table, name = load_table("llama3", None)
x = table_features(table, "minilm")
specs = [s for s, _ in paper_streams(table, name, "main")]
streams = [(x[s.test_index], table.labels[s.test_index], table.costs[s.test_index]) for s in specs]
cells = []
for i, s in enumerate(specs):
    for seed in (42, 43, 44):
        order = request_order(len(s.test_index), seed)
        for a in ALPHA_GRID["llama3"][s.name]:
            for V in (0.3, 1.0, 3.0, 10.0):
                for c in (0.01, 0.1, 1.0):
                    cells.append(
                        dict(
                            stream=i,
                            seed=seed,
                            order=order,
                            hp=policy.default_hparams(alpha=a, V=V, c=c),
                            pp=policy.default_policy_params(),
                        )
                    )
print(len(cells), "cells", sum(len(s.test_index) for s in specs) * 108, "request-steps")
t0 = time.time()
summ, _ = policy.run_cells(streams, cells)
t1 = time.time()
print(f"first call {t1 - t0:.1f} s")
t0 = time.time()
summ2, _ = policy.run_cells(streams, cells)
print(f"second call {time.time() - t0:.1f} s")
print("identical", np.array_equal(summ.total_cost, summ2.total_cost))
