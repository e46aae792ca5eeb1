"""``messjax sweep --config FILE --out DIR``: run a config's grid, resumably, and write its results.

Writes ``DIR/summary.csv``, ``DIR/config.yaml``, ``DIR/traces.npz``, ``DIR/figures/*.png``,
``DIR/checkpoints/`` (a rerun resumes) and one wandb run under ``DIR/wandb`` (offline unless
the config or ``--wandb`` says otherwise); see :mod:`messjax.runs.sweep`.
"""

from __future__ import annotations

import argparse

from messjax.commands._common import add_config_arguments, overrides, sweep_options

NAME = "sweep"
HELP = "run the grid of a YAML config (resumable) and write summary.csv, traces and figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="YAML sweep config")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_config_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from messjax.outputs.tables import results_table
    from messjax.runs.config import load_config
    from messjax.runs.sweep import execute, report

    outcome = execute(load_config(args.config, overrides(args)), args.out, **sweep_options(args))
    print(results_table(outcome.rows))
    print()
    print(report(outcome))
    return 0
