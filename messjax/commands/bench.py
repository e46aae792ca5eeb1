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
ROUTER_SCRIPT = SCRIPT.with_name("bench_router.py")
SCALE_SCRIPT = SCRIPT.with_name("bench_scale.py")


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
    parser.add_argument(
        "--router",
        action="store_true",
        help="instead: load figures of the live router and of messjax serve "
        "(experiments/bench_router.py: route() latency, batched routes/s, HTTP requests/s)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="instead: the scale benchmark (experiments/bench_scale.py): one stream of 1e6 and "
        "1e7 requests per policy (time, peak memory) and a sweep of >= 10,000 episodes",
    )
    parser.add_argument(
        "--scale-sizes", default="1e6,1e7", help="--scale: stream lengths (default 1e6,1e7)"
    )
    parser.add_argument(
        "--sweep-episodes",
        type=int,
        default=10_000,
        help="--scale: episodes of the sweep (default 10000; 0 skips it)",
    )
    parser.add_argument(
        "--policies", default=None, help="--scale: policies (default: every registered one)"
    )


def load_script(script: Path = SCRIPT, name: str = "messjax_experiments_bench"):
    """``experiments/bench.py`` (or ``script``) as a module (it ships with the source, not
    the wheel)."""
    if not script.is_file():
        raise MessjaxError(
            f"messjax bench runs {script}, which this installation lacks: use a source checkout"
        )
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, script)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


def main(args: argparse.Namespace) -> int:
    if getattr(args, "router", False):
        return load_script(ROUTER_SCRIPT, "messjax_experiments_bench_router").run_from_args(args)
    if args.scale:
        return load_script(SCALE_SCRIPT, "messjax_experiments_bench_scale").run_from_args(args)
    return load_script().run_from_args(args)
