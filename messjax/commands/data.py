"""``messjax data describe PATH``: summarise a routing log (zoo name, log folder or CSV)."""

from __future__ import annotations

import argparse
import sys
import warnings

from messjax.commands._common import add_data_dir, data_dir
from messjax.data.loaders import COST_KINDS, ZOOS, describe, load_zoo

NAME = "data"
HELP = "inspect routing logs (describe: per-task request counts, accuracies and costs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "describe",
        help="per task: request count, per-model accuracy (%%) and mean cost",
        description="Print per task the request count and per model the accuracy (%%) and "
        "mean cost, then the totals over the zoo.",
    )
    p.add_argument(
        "path",
        metavar="PATH",
        help=f"zoo name ({', '.join(ZOOS)}), a MESS+ log folder, or a MESS+ / RouterBench CSV",
    )
    add_data_dir(p)
    p.add_argument(
        "--cost",
        choices=list(COST_KINDS),
        default="energy",
        help="cost column of MESS+ logs (default: energy)",
    )
    p.add_argument(
        "--task", action="append", default=None, metavar="TASK", help="only this task (repeatable)"
    )


def main(args: argparse.Namespace) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_zoo(args.path, data_dir=data_dir(args), cost=args.cost)
    for w in caught:
        print(f"messjax data: note: {w.message}", file=sys.stderr)
    if args.task:
        table = table.select_task(*args.task)
    print(describe(table))
    return 0
