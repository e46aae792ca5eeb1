"""``messjax run``: the main job, a MESS+ sweep printed as a compact table.

By default the embedded config (``configs/synthetic.yaml``: the synthetic Llama-3 zoo, 3 seeds x
3 alphas x 3 V x 3 c per task); ``--zoo llama3 --task arc_challenge`` runs the same grid on the
real logs with the paper's alphas for the task. ``--out DIR`` also writes everything
``messjax sweep`` writes (and resumes from its checkpoints).
"""

from __future__ import annotations

import argparse

from messjax import paper
from messjax.commands._common import data_dir
from messjax.commands.sweep import add_config_arguments, execute, overrides, report
from messjax.config import DEFAULT_CONFIG, SYNTHETIC, apply_overrides, config_from_dict, read_yaml

NAME = "run"
HELP = "run a MESS+ sweep (default: the embedded synthetic zoo) and print a results table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="YAML config (default: the embedded configs/synthetic.yaml)",
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


def main(args: argparse.Namespace) -> int:
    from messjax.logging import results_table

    raw = dict(DEFAULT_CONFIG) if args.config is None else read_yaml(args.config)
    if args.zoo is not None:
        raw["zoo"] = args.zoo
        if args.zoo != SYNTHETIC:
            # Synthetic-only settings of the default config do not carry over to real logs.
            data = dict(raw.get("data") or {})
            data.pop("preset", None)
            data.pop("seed", None)
            data["num_requests"] = None
            raw["data"] = data
            if args.task is None:
                raw.pop("task", None)
                raw["tasks"] = list(paper.PAPER_TASKS)
    if args.task is not None:
        raw.pop("task", None)
        raw["tasks"] = list(args.task)
    if args.out is None:
        raw["wandb"] = {**(raw.get("wandb") or {}), "mode": "disabled"}
    cfg = config_from_dict(apply_overrides(raw, overrides(args)))
    outcome = execute(
        cfg,
        args.out,
        data_dir=data_dir(args),
        restart=args.restart,
        progress=not args.no_progress,
        force=args.force,
    )
    print(results_table(outcome.rows))
    print()
    print(report(outcome))
    return 0
