"""``messjax data describe PATH``: summarise a routing log (zoo name, log folder or CSV)."""

from __future__ import annotations

import argparse

from messjax.commands._zoo import add_log_arguments, load
from messjax.data.loaders import ZOOS, describe

NAME = "data"
HELP = "inspect routing logs (describe: per-task request counts, accuracies and costs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "describe",
        help="per task: request count, per-model accuracy (%%) and mean cost",
        description="Print per task the request count and per model the accuracy (%) and "
        "mean cost, then the totals over the zoo (transposed for zoos with many models).",
    )
    p.add_argument(
        "path",
        metavar="PATH",
        help=f"zoo name ({', '.join(ZOOS)}), or a log folder or CSV: MESS+, RouterBench, or "
        "RouteLLM (with --price/--prices)",
    )
    add_log_arguments(p)
    p.add_argument(
        "--task", action="append", default=None, metavar="TASK", help="only this task (repeatable)"
    )


def main(args: argparse.Namespace) -> int:
    table = load(args, args.path, "data")
    if args.task:
        table = table.select_task(*args.task)
    print(describe(table))
    return 0
