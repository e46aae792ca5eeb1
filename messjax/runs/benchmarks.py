"""``messjax bench``'s options and its three benchmarks, without importing JAX up front.

- :mod:`messjax.runs.bench` (default): the sweep engine on the paper's full Llama grid (864
  episodes, about 1.42 million request-steps) against the plain NumPy loop and a loop in the
  style of the reference code, and the ``messjax`` policy's grid against its NumPy loop;
- :mod:`messjax.runs.bench_router` (``--router``): load figures of the live router and of
  ``messjax serve``;
- :mod:`messjax.runs.bench_scale` (``--scale``): streams of 1e6 and 1e7 requests per policy
  and a sweep of >= 10,000 episodes.

Each report is printed as JSON and written with ``--json PATH``. ``messjax bench`` and the
scripts ``experiments/bench*.py`` both come here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from messjax.fileio import atomic_write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", default=None, help="write the report here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small grid on one task (synthetic data and hashed features when the logs or "
        "the MiniLM weights are missing), for tests",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="root folder holding the zoo folders (default: $MESSJAX_DATA_DIR)",
    )
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
        "(route() latency, batched routes/s, HTTP requests/s)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="instead: the scale benchmark: one stream of 1e6 and 1e7 requests per policy "
        "(time, peak memory) and a sweep of >= 10,000 episodes",
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


def run(args: argparse.Namespace) -> int:
    """Run the benchmark ``args`` selects; print its JSON report and write it to ``--json``."""
    if args.router:
        from messjax.runs.bench_router import report_from_args

        prefix, indent = "bench --router", 1
    elif args.scale:
        from messjax.runs.bench_scale import report_from_args

        prefix, indent = "bench --scale", 2
    else:
        from messjax.runs.bench import report_from_args

        prefix, indent = "bench", 2

    def log(msg: str) -> None:
        print(f"{prefix}: {msg}", file=sys.stderr, flush=True)

    text = json.dumps(report_from_args(args, log), indent=indent)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, text + "\n")
        log(f"wrote {args.json}")
    print(text)
    return 0


def main(argv: list[str] | None = None, *, mode: str | None = None) -> int:
    """Command line of the ``experiments/bench*.py`` scripts (``mode``: ``--router`` or
    ``--scale`` for theirs); the same options as ``messjax bench``."""
    from messjax.runs import compile_cache

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args([*([mode] if mode else []), *(sys.argv[1:] if argv is None else argv)])
    compile_cache.enable()  # as the messjax command line does
    return run(args)
