"""``messjax reproduce``: the paper's main table — MESS+ and every baseline per task.

``messjax evaluate`` with the paper's settings (:func:`messjax.runs.evaluate.reproduce`): for
each task of the zoo (MESSPLUS.md section 6) MESS+ as in the paper (V = 1e-4, c = 0.1,
``last_explore`` cost estimate, MLP head, the authors' per-task predictor presets, seeds 42,
43, 44) and the baselines of :mod:`messjax.baselines` on the same request orders. Writes
``DIR/table.csv`` (one row per task x method), ``DIR/table.md`` (the paper's numbers beside ours
where it has them) and a cost-vs-satisfaction figure per task, ``DIR/figures/<task>.png``.
Scenarios: ``main``, ``chain`` and ``sparse`` (see :mod:`messjax.runs.evaluate`).
"""

from __future__ import annotations

import argparse

from messjax.commands._common import add_data_dir, data_dir
from messjax.core.names import SPARSE_TRAINING
from messjax.runs.eval_setup import SCENARIOS, SPARSE_TRAINING_DEFAULT

NAME = "reproduce"
HELP = "reproduce the paper's main table: MESS+ and baselines per task (table.csv/.md, figures)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--zoo",
        default="llama3",
        help="llama3 (paper alphas), qwen2 (middle of the authors' alpha grid), llama3+qwen2 "
        "(7 models, llama3 alphas), or a MESS+ log folder (default: llama3)",
    )
    add_data_dir(parser)
    parser.add_argument(
        "--out", default=None, help="output folder (default: results/<zoo>[-<scenario>])"
    )
    parser.add_argument(
        "--seeds", type=int, default=3, help="number of seeds, from 42 upward (default: 3)"
    )
    parser.add_argument(
        "--featurizer",
        choices=("minilm", "hash"),
        default=None,
        help="request embeddings (default: minilm if its weights are installed, else hash)",
    )
    parser.add_argument("--scenario", choices=SCENARIOS, default="main", help="default: main")
    parser.add_argument(
        "--sparse-training",
        choices=SPARSE_TRAINING,
        default=SPARSE_TRAINING_DEFAULT,
        help="sparse scenario: what the predictor trains on, every exploration (the authors' "
        "simulator, default) or explorations with feedback only (messjax's engine default); "
        "the other rule is reported as an extra row",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into the output folder even if it holds files messjax did not write",
    )
    parser.add_argument(
        "--cache-dir", default=None, help="feature cache (default: $MESSJAX_CACHE_DIR or ~/.cache)"
    )
    # Hidden options to shrink the run (tests) or add a row.
    parser.add_argument("--tasks", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max-requests", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--router-steps", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--extra-V", type=float, action="append", default=[], help=argparse.SUPPRESS
    )
    parser.add_argument("--no-figures", action="store_true", help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    from messjax.runs.evaluate import reproduce

    reproduce(
        args.zoo,
        data_dir=data_dir(args),
        seeds=args.seeds,
        scenario=args.scenario,
        sparse_training=args.sparse_training,
        tasks=[t for t in args.tasks.split(",") if t] if args.tasks else None,
        out=args.out,
        max_requests=args.max_requests,
        router_steps=args.router_steps,
        extra_V=args.extra_V,
        featurizer=args.featurizer,
        cache_dir=args.cache_dir,
        force=args.force,
        figures=not args.no_figures,
    )
    return 0
