"""Load figures of the live router and of ``messjax serve`` (``messjax bench --router``; the
code is :mod:`messjax.runs.bench_router`).

    python experiments/bench_router.py --json results/bench_router.json
"""

import sys

from messjax.runs.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(mode="--router"))
