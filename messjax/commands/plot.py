"""``messjax plot DIR``: redraw a sweep's figures from DIR/summary.csv and DIR/traces.npz."""

from __future__ import annotations

import argparse

NAME = "plot"
HELP = "redraw the figures of a sweep folder (from summary.csv and traces.npz)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="output folder of messjax sweep / run --out")
    parser.add_argument(
        "--force",
        action="store_true",
        help="draw into DIR even if it holds files messjax did not write (e.g. a folder made "
        "by an older messjax)",
    )


def main(args: argparse.Namespace) -> int:
    from messjax.runs.sweep import redraw

    for path in redraw(args.dir, force=args.force):
        print(path)
    return 0
