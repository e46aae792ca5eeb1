"""``messjax run``: the main job, a MESS+ sweep printed as a compact table.

By default the embedded config (``configs/synthetic.yaml``: the synthetic Llama-3 zoo, 3 seeds x
3 alphas x 3 V x 3 c per task); ``--zoo llama3 --task arc_challenge`` runs the same grid on the
real logs with the paper's alphas for the task. ``--out DIR`` also writes everything
``messjax sweep`` writes (and resumes from its checkpoints).
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from messjax import paper
from messjax.commands._common import data_dir
from messjax.commands._zoo import add_price_arguments, notes
from messjax.commands.sweep import add_config_arguments, execute, overrides, report
from messjax.runs.config import (
    DEFAULT_CONFIG,
    SYNTHETIC,
    apply_overrides,
    config_from_dict,
    read_yaml,
)

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
    add_price_arguments(parser)


#: Above this many models, or with model names longer than this, the calls column numbers
#: the models and a legend names them.
_FEW_MODELS, _SHORT_NAME = 4, 12


def print_results(rows: Sequence[Mapping[str, Any]], models: Sequence[str] | None = None) -> str:
    """:func:`messjax.outputs.results.results_table`, readable for big zoos: with many or long model
    names the per-model call shares are headed by numbers (cheapest first) and a legend lists
    the models once."""
    from messjax.outputs.results import results_table

    if not rows:
        return ""
    models = list(models or [k[len("share_") :] for k in rows[0] if k.startswith("share_")])
    if len(models) <= _FEW_MODELS and all(len(m) <= _SHORT_NAME for m in models):
        return results_table(rows)
    renamed = []
    for r in rows:
        r2 = {k: v for k, v in r.items() if not k.startswith("share_")}
        r2.update({f"share_{k + 1}": r[f"share_{m}"] for k, m in enumerate(models)})
        renamed.append(r2)
    legend = ["models (cheapest first; numbers in the calls column):"]
    legend += [f"  {k + 1:>2}  {m}" for k, m in enumerate(models)]
    return "\n".join(legend) + "\n\n" + results_table(renamed)


def main(args: argparse.Namespace) -> int:
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
                from messjax.data.loaders import ZOOS

                raw.pop("task", None)
                # the paper's 8 tasks for its zoos; every task of the user's own logs
                raw["tasks"] = list(paper.PAPER_TASKS) if args.zoo in ZOOS else []
    if args.task is not None:
        raw.pop("task", None)
        raw["tasks"] = list(args.task)
    if args.out is None:
        raw["wandb"] = {**(raw.get("wandb") or {}), "mode": "disabled"}
    if args.drop_incomplete or args.price or args.prices:
        data = dict(raw.get("data") or {})
        if args.drop_incomplete:
            data["missing"] = "drop"
        if args.price or args.prices:
            from messjax.commands._zoo import prices

            data["prices"] = prices(args)
        raw["data"] = data
    cfg = config_from_dict(apply_overrides(raw, overrides(args)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        outcome = execute(
            cfg,
            args.out,
            data_dir=data_dir(args),
            restart=args.restart,
            progress=not args.no_progress,
            force=args.force,
        )
    notes([w for w in caught if _is_data_note(w)], "run")
    for w in caught:
        if not _is_data_note(w):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    print(print_results(outcome.rows))
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
