"""``messjax bench``: throughput of the sweep engine on the paper's full Llama grid.

864 episodes (8 tasks x 3 seeds x 3 alphas x 4 V x 3 c, about 1.42 million request-steps), timed
against the plain NumPy loop and against a loop in the style of the reference code, and the same
grid shape with the ``messjax`` policy against its NumPy loop (the report's ``messjax``
section); ``--router`` and ``--scale`` run the other benchmarks instead
(:mod:`messjax.runs.benchmarks`). The report is printed as JSON and written with ``--json PATH``.
"""

from __future__ import annotations

import argparse

from messjax.runs import benchmarks

NAME = "bench"
HELP = (
    "time the paper's full Llama grid (864 episodes) against the NumPy loop and the "
    "reference code's style; JSON report"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    benchmarks.add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    return benchmarks.run(args)
