"""``messjax run``: the main job, a MESS+ sweep printed as a compact table.

By default the embedded config (``messjax/runs/default.yaml``: the synthetic Llama-3 zoo, 3 seeds x
3 alphas x 3 V x 3 c per task); ``--zoo llama3 --task arc_challenge`` runs the same grid on the
real logs with the paper's alphas for the task. ``--out DIR`` also writes everything
``messjax sweep`` writes (and resumes from its checkpoints).
"""

from __future__ import annotations

import argparse
import warnings

from messjax.commands._common import add_config_arguments, overrides, sweep_options
from messjax.commands._zoo import add_price_arguments, notes, prices

NAME = "run"
HELP = "run a MESS+ sweep (default: the embedded synthetic zoo) and print a results table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="YAML config (default: the embedded messjax/runs/default.yaml)",
    )
    parser.add_argument(
        "--zoo",
        default=None,
        help="zoo: synthetic, llama3, qwen2, llama3+qwen2 or a log path (real zoos need "
        "--data-dir or MESSJAX_DATA_DIR)",
    )
    parser.add_argument(
        "--task",
        action="append",
        default=None,
        metavar="TASK",
        help="task to run (repeatable; default: the config's, or the paper's 8 for a real zoo)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="also write summary.csv, traces, figures, checkpoints and a wandb run here",
    )
    add_config_arguments(parser)
    add_price_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from messjax.outputs.tables import readable_results_table
    from messjax.runs.sweep import execute, report, run_config

    cfg = run_config(
        args.config,
        zoo=args.zoo,
        tasks=args.task,
        out=args.out,
        missing="drop" if args.drop_incomplete else None,
        prices=prices(args) if args.price or args.prices else None,
        overrides=overrides(args),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        outcome = execute(cfg, args.out, **sweep_options(args))
    notes([w for w in caught if _is_data_note(w)], "run")
    for w in caught:
        if not _is_data_note(w):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    print(readable_results_table(outcome.rows))
    dropped = [w.message for w in caught if _is_data_note(w) and hasattr(w.message, "rows")]
    if dropped:
        print(
            f"(dropped on load: {sum(d.rows for d in dropped)} requests with an empty score or "
            "cost cell; see the note above)"
        )
    print()
    print(report(outcome))
    return 0


def _is_data_note(w) -> bool:
    from messjax.data.loaders import IncompleteRowsWarning, ZooJoinWarning

    return issubclass(w.category, IncompleteRowsWarning | ZooJoinWarning)
