"""``messjax plot DIR``: redraw a sweep's figures from DIR/summary.csv and DIR/traces.npz."""

from __future__ import annotations

import argparse
from pathlib import Path

from messjax.errors import MessjaxError

NAME = "plot"
HELP = "redraw the figures of a sweep folder (from summary.csv and traces.npz)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="output folder of messjax sweep / run --out")


def main(args: argparse.Namespace) -> int:
    from messjax.logging import SUMMARY_CSV
    from messjax.plots import draw_figures

    out = Path(args.dir)
    if not (out / SUMMARY_CSV).is_file():
        raise MessjaxError(f"{out} has no {SUMMARY_CSV}: is it the --out folder of a sweep?")
    for path in draw_figures(out):
        print(path)
    return 0
