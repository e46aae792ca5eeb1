"""``messjax evaluate``: every routing method on your own logs, on the same request orders.

``messjax evaluate --zoo PATH|NAME --alpha A`` reads a zoo (MESS+, RouterBench or RouteLLM logs,
or a named zoo), builds the evaluation streams and runs every method on each (MESS+, the
project's own policy and every baseline of :mod:`messjax.baselines`) through
:func:`messjax.runs.evaluate.evaluate_logs`, the path ``messjax reproduce`` takes with the
paper's settings. It writes ``DIR/table.csv`` (one row per stream x method), ``DIR/table.md``
and a cost-vs-satisfaction figure per stream, ``DIR/figures/<stream>.png``.

Streams: one per task (default; each seed shuffles the task), ``--stream mixed`` (all the
selected tasks shuffled together into one stream with one alpha) or ``--stream chain`` (the
tasks in a row, each shuffled per seed). Offline routers train on the zoo's other tasks, or on a
seeded split of the stream when there are none (:mod:`messjax.runs.eval_setup`), named in the
table's ``offline_training`` column.

V that transfers between cost units and zoos: MESS+ here uses ``relative_V = 1`` with V =
:data:`~messjax.runs.eval_setup.DEFAULT_RELATIVE_V`, which equals the paper's trade-off on its
logs; ``--V`` overrides it, ``--absolute-V`` restores the paper's V in the cost's own unit.
"""

from __future__ import annotations

import argparse

from messjax.commands._zoo import add_log_arguments, load
from messjax.runs.eval_setup import (
    DEFAULT_C,
    DEFAULT_RELATIVE_V,
    DEFAULT_TRAIN_FRACTION,
    METHODS,
    STREAMS,
)

NAME = "evaluate"
HELP = (
    "every routing method on your own logs (RouterBench, RouteLLM, MESS+): table.csv/.md, figures"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--zoo",
        required=True,
        metavar="PATH|NAME",
        help="a log CSV or folder (MESS+, RouterBench, RouteLLM with --price/--prices) or a zoo "
        "name (llama3, qwen2, llama3+qwen2)",
    )
    add_log_arguments(parser)
    parser.add_argument(
        "--task",
        action="append",
        default=None,
        metavar="TASK",
        help="evaluate this task (repeatable; default: every task of the zoo)",
    )
    parser.add_argument(
        "--alpha",
        action="append",
        default=None,
        metavar="A|TASK=A,...|paper",
        help="SLA target: one for every task (--alpha 0.8), per task (--alpha boolq=0.8,"
        "piqa=0.75; a plain value covers the rest), or 'paper' (the paper's per-task targets)",
    )
    parser.add_argument(
        "--stream",
        choices=STREAMS,
        default="tasks",
        help="tasks: one stream per task (default); mixed: all tasks shuffled into one stream, "
        "one alpha; chain: the tasks in a row, each shuffled per seed",
    )
    parser.add_argument(
        "--method",
        action="append",
        default=None,
        metavar="NAME[,NAME]",
        help="only these methods (repeatable or comma-separated; 'single' = every single-model "
        f"row); default: all. Known: {', '.join(m.name for m in METHODS)}, single-<model>",
    )
    parser.add_argument(
        "--seeds", type=int, default=3, help="number of seeds, from 42 upward (default: 3)"
    )
    parser.add_argument(
        "--V",
        type=float,
        default=None,
        dest="V",
        help=f"MESS+'s V (default: {DEFAULT_RELATIVE_V:g} relative to the largest estimated "
        "cost, the paper's trade-off in any cost unit; with --absolute-V: 1e-4 per cost unit)",
    )
    parser.add_argument(
        "--absolute-V",
        action="store_true",
        help="V in the cost's own unit, as in the paper (its V = 1e-4 is tuned to joules)",
    )
    parser.add_argument(
        "--c", type=float, default=DEFAULT_C, help="exploration constant c (default: 0.1)"
    )
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=DEFAULT_TRAIN_FRACTION,
        help="share of the stream the offline routers train on when there are no other tasks "
        f"to train on (default: {DEFAULT_TRAIN_FRACTION})",
    )
    parser.add_argument(
        "--featurizer",
        choices=("minilm", "hash"),
        default=None,
        help="request embeddings (default: minilm if its weights are installed, else hash)",
    )
    parser.add_argument(
        "--cache-dir", default=None, help="feature cache (default: $MESSJAX_CACHE_DIR or ~/.cache)"
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default: runs/evaluate-<zoo>)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into the output folder even if it holds files messjax did not write",
    )
    parser.add_argument(
        "--messjax-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a leaf of the messjax policy (repeatable), e.g. infeasible_cap=2 (the "
        "out-of-reach hold), margin=5, V=0.5; the table says which were set",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    # Hidden options to shrink the run (tests).
    parser.add_argument("--max-requests", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--router-steps", type=int, default=None, help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    from messjax.runs.evaluate import evaluate_logs

    evaluate_logs(
        lambda: load(args, args.zoo, NAME),
        args.alpha,
        zoo=args.zoo,
        tasks=args.task,
        stream=args.stream,
        methods=args.method,
        seeds=args.seeds,
        V=args.V,
        absolute_V=args.absolute_V,
        c=args.c,
        train_fraction=args.train_fraction,
        out=args.out,
        max_requests=args.max_requests,
        router_steps=args.router_steps,
        messjax=args.messjax_set,
        featurizer=args.featurizer,
        cache_dir=args.cache_dir,
        force=args.force,
        figures=not args.no_figures,
    )
    return 0
