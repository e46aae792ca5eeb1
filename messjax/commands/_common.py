"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
import os


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=None,
        help="root folder holding the zoo folders (messplus-llama3, messplus-qwen2); "
        "default: $MESSJAX_DATA_DIR",
    )


def data_dir(args: argparse.Namespace) -> str | None:
    return args.data_dir or os.environ.get("MESSJAX_DATA_DIR")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--set``, ``--data-dir``, ``--wandb``, ``--restart``, ``--force``, ``--no-progress``
    of the commands that run a sweep config (``run``, ``sweep``)."""
    from messjax.runs.config import WANDB_MODES

    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key; VALUE is YAML (alpha=[0.5,0.6], V=1e-4, "
        "wandb.mode=disabled); repeatable",
    )
    add_data_dir(parser)
    parser.add_argument(
        "--wandb", choices=WANDB_MODES, default=None, help="wandb mode (default: the config's)"
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="delete what messjax wrote in DIR (checkpoints, outputs, figures) first, "
        "instead of resuming from its checkpoints",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into DIR even if it holds files messjax did not write (files of the same "
        "name are overwritten; nothing else is touched)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides, then ``--wandb`` as ``wandb.mode=...``."""
    extra = [f"wandb.mode={args.wandb}"] if args.wandb else []
    return [*args.set, *extra]


def sweep_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`messjax.runs.sweep.execute` from the config arguments."""
    return dict(
        data_dir=data_dir(args),
        restart=args.restart,
        progress=not args.no_progress,
        force=args.force,
    )
