"""``messjax`` command line: thin wrappers that parse, call library functions and print.

Every module in :mod:`messjax.commands` is a subcommand: it defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``main(args) -> int``.

Failures end in one line on stderr saying what is wrong and how to go on, never a traceback
(set ``MESSJAX_DEBUG=1`` to get one): bad input, corrupt or partial checkpoints, unreadable
or unwritable files exit with 2; Ctrl-C exits with 130 ("interrupted: rerun the same command
to resume"). Anything else is a bug in messjax and keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys

from messjax import commands
from messjax.errors import MessjaxError
from messjax.runs import compile_cache


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


def debug() -> bool:
    """``MESSJAX_DEBUG=1``: let exceptions through with their traceback."""
    return os.environ.get("MESSJAX_DEBUG", "") not in ("", "0")


def os_error_message(e: OSError) -> str:
    """One line for a file-system error: what failed on which path, and what to do."""
    where = e.filename if e.filename is not None else ""
    if e.filename2 is not None:
        where = f"{where} -> {e.filename2}"
    what = e.strerror or str(e)
    hint = {
        errno.EACCES: "choose a folder you can write to (e.g. another --out)",
        errno.EPERM: "choose a folder you can write to (e.g. another --out)",
        errno.EROFS: "the file system is read-only: choose another folder",
        errno.ENOSPC: "the disk is full: free space, then rerun the same command to resume",
        errno.EDQUOT: "the disk quota is exceeded: free space, then rerun the same command",
    }.get(e.errno or -1, "check the path and rerun the same command")
    return f"{what}: {where}; {hint}" if where else f"{what}; {hint}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = f"messjax {args.command}"
    compile_cache.enable()  # JAX's persistent compilation cache (MESSJAX_JAX_CACHE=0: off)
    try:
        return int(args._main(args) or 0)
    except KeyboardInterrupt:
        if debug():
            raise
        print(f"\n{name}: interrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    except (MessjaxError, FileNotFoundError, FileExistsError, NotADirectoryError) as e:
        # Bad input or a missing file/weights: one line, no traceback.
        if debug():
            raise
        msg = os_error_message(e) if isinstance(e, OSError) and e.filename else str(e)
        print(f"{name}: error: {msg}", file=sys.stderr)
        return 2
    except OSError as e:  # unwritable folders, full disks, ...
        if debug():
            raise
        print(f"{name}: error: {os_error_message(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
