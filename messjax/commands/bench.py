"""``messjax bench``: throughput of the sweep engine on the paper's full Llama grid.

A thin wrapper around ``experiments/bench.py`` (loaded from the source checkout): 864 episodes
(8 tasks x 3 seeds x 3 alphas x 4 V x 3 c, about 1.42 million request-steps), timed against the
plain NumPy loop and against a loop in the style of the reference code, and the same grid shape
with the ``messjax`` policy against its NumPy loop (the report's ``messjax`` section); the
report is printed as JSON and written with ``--json PATH``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from messjax.commands._common import add_data_dir
from messjax.errors import MessjaxError

NAME = "bench"
HELP = (
    "time the paper's full Llama grid (864 episodes) against the NumPy loop and the "
    "reference code's style; JSON report"
)
SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "bench.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", default=None, help="write the report here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small grid on one task (synthetic data and hashed features when the logs or "
        "the MiniLM weights are missing), for tests",
    )
    add_data_dir(parser)
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed grid runs after the first (default 3)"
    )
    parser.add_argument(
        "--devices",
        type=int,
        default=None,
        help="XLA devices to split the host CPU into, to shard trajectories over the cores "
        "(default: one per core)",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="feature cache folder (default: $MESSJAX_CACHE_DIR or ~/.cache/messjax/features)",
    )
    parser.add_argument(
        "--fresh-encode", action="store_true", help="encode the texts even when they are cached"
    )
    parser.add_argument(
        "--features",
        metavar="NPY",
        default=None,
        help="precomputed [T, d] MiniLM features of the zoo's texts (rows in table order), for "
        "machines without the encoder weights; encode_s is then not measured",
    )
    parser.add_argument(
        "--messjax-only",
        action="store_true",
        help="time only the messjax policy's grid and its NumPy loop (skips MESS+'s grid, its "
        "loops and the reference-style loop)",
    )
    parser.add_argument(
        "--note", default=None, help="free text stored in the report (e.g. the machine's load)"
    )


def load_script():
    """``experiments/bench.py`` as a module (it ships with the source, not the wheel)."""
    if not SCRIPT.is_file():
        raise MessjaxError(
            f"messjax bench runs {SCRIPT}, which this installation lacks: use a source checkout"
        )
    name = "messjax_experiments_bench"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


def main(args: argparse.Namespace) -> int:
    return load_script().run_from_args(args)
