"""``messjax plot DIR``: redraw a sweep's figures from DIR/summary.csv and DIR/traces.npz."""

from __future__ import annotations

import argparse
from pathlib import Path

from messjax.errors import MessjaxError

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
    from messjax.fileio import claim_output_dir
    from messjax.outputs.figures import draw_figures
    from messjax.outputs.results import SUMMARY_CSV

    out = Path(args.dir)
    if not (out / SUMMARY_CSV).is_file():
        raise MessjaxError(f"{out} has no {SUMMARY_CSV}: is it the --out folder of a sweep?")
    output = claim_output_dir(out, "sweep", force=args.force)
    for path in draw_figures(out, output=output):
        print(path)
    return 0
