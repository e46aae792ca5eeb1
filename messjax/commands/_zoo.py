"""Command-line options for reading a zoo from the user's own logs, shared by ``data``, ``run``
and ``evaluate``: the cost column, ``--drop-incomplete`` and RouteLLM prices."""

from __future__ import annotations

import argparse
import sys
import warnings

from messjax.commands._common import add_data_dir, data_dir


def add_log_arguments(parser: argparse.ArgumentParser, *, cost: bool = True) -> None:
    """``--data-dir``, ``--cost``, ``--drop-incomplete``, ``--price``, ``--prices``."""
    from messjax.data.loaders import COST_KINDS

    add_data_dir(parser)
    if cost:
        parser.add_argument(
            "--cost",
            choices=list(COST_KINDS),
            default="energy",
            help="cost column of MESS+ logs (default: energy)",
        )
    add_price_arguments(parser)


def add_price_arguments(parser: argparse.ArgumentParser) -> None:
    """``--drop-incomplete``, ``--price MODEL=DOLLARS``, ``--prices FILE``."""
    parser.add_argument(
        "--drop-incomplete",
        action="store_true",
        help="drop requests with an empty score or cost cell (counted per model and task in a "
        "note) instead of stopping at the first one",
    )
    parser.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=DOLLARS",
        help="price per request of a model, for RouteLLM logs (no cost columns); repeatable",
    )
    parser.add_argument(
        "--prices",
        default=None,
        metavar="FILE",
        help="JSON or YAML file mapping model id -> dollars per request (RouteLLM logs); "
        "--price entries override it",
    )


def prices(args: argparse.Namespace) -> dict[str, float] | None:
    """The price table of ``--prices FILE`` updated by every ``--price MODEL=DOLLARS``."""
    from messjax.data.loaders import parse_price, read_prices
    from messjax.errors import ConfigError

    table = read_prices(args.prices) if getattr(args, "prices", None) else {}
    given: set[str] = set()
    for model, dollars in (parse_price(p) for p in getattr(args, "price", []) or []):
        if model in given:
            raise ConfigError(f"price {model}", "--price given twice for this model")
        given.add(model)
        table[model] = dollars  # overrides the --prices file
    return table or None


def missing(args: argparse.Namespace) -> str:
    return "drop" if getattr(args, "drop_incomplete", False) else "error"


def notes(caught, command: str) -> None:
    """Print caught warnings (dropped rows, joins) as one-line notes on stderr."""
    for w in caught:
        print(f"messjax {command}: note: {w.message}", file=sys.stderr)


def load(args: argparse.Namespace, zoo: str, command: str):
    """The zoo ``zoo`` (a name or a path) read with the command line's log options."""
    from messjax.data import load_zoo

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_zoo(
            zoo,
            data_dir=data_dir(args),
            cost=getattr(args, "cost", "energy"),
            missing=missing(args),
            prices=prices(args),
        )
    notes(caught, command)
    return table
