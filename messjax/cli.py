"""``messjax`` command line: thin wrappers that parse, call library functions and print.

Every module in :mod:`messjax.commands` is a subcommand: it defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from messjax import commands, compile_cache
from messjax.errors import MessjaxError


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"messjax.commands.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="messjax", description="MESS+ LLM request routing with SLA guarantees, in JAX."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    compile_cache.enable()  # JAX's persistent compilation cache (MESSJAX_JAX_CACHE=0: off)
    try:
        return int(args._main(args) or 0)
    except (MessjaxError, FileNotFoundError, FileExistsError, NotADirectoryError) as e:
        # Bad input or a missing file/weights: one line, no traceback.
        print(f"messjax {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
