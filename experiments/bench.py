"""Throughput of the sweep engine on the paper's full Llama grid (``messjax bench``; the code is
:mod:`messjax.runs.bench`, the options :mod:`messjax.runs.benchmarks`).

    python experiments/bench.py --json results/bench_cpu.json
"""

import sys

from messjax.runs.benchmarks import main

if __name__ == "__main__":
    sys.exit(main())
