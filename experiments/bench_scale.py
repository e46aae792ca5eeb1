"""Scale benchmark: a provider's day in one stream, and a sweep the size of an accelerator
(``messjax bench --scale``; the code is :mod:`messjax.runs.bench_scale`).

    python experiments/bench_scale.py --json results/bench_scale_cpu.json
"""

import sys

from messjax.runs.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(mode="--scale"))
