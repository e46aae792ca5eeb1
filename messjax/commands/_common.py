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
