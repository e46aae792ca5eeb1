"""Errors raised on bad input. Every message names what is wrong and where."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MessjaxError(ValueError):
    """Base class: bad input given to messjax (data, config, arguments)."""


class DataError(MessjaxError):
    """A routing log or table is malformed.

    The message names the file (or ``<table>`` for in-memory data; ``source=None`` when the
    problem is not in any file, e.g. an unknown zoo name), the column and the first
    offending place: ``line N`` for a file (``line=``: the 1-based line number in the file as an
    editor shows it, the header being line 1) or ``row N`` for an in-memory table (``row=``:
    0-based row index, not counting any header).
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = "<table>",
        column: str | None = None,
        row: int | None = None,
        line: int | None = None,
    ):
        self.problem, self.source, self.column = problem, source, column
        self.row, self.line = row, line
        where = [f"file {source}"] if source is not None else []
        if column is not None:
            where.append(f"column {column!r}")
        if line is not None:
            where.append(f"line {line}")
        elif row is not None:
            where.append(f"row {row}")
        super().__init__(f"{', '.join(where)}: {problem}" if where else problem)


class ConfigError(MessjaxError):
    """A config or hyperparameter is invalid; the message names the key."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"config key {key!r}: {problem}")


class OutputFolderError(MessjaxError):
    """An output folder cannot be used: it is a file, or holds files messjax did not write."""


class CheckpointError(MessjaxError):
    """A checkpoint is missing, incomplete or unreadable; the message says how to go on."""


def did_you_mean(name: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` naming the closest of ``candidates`` to ``name`` (a
    :func:`difflib.get_close_matches` ratio of at least ``cutoff``, else one equal to ``name``
    up to case), or ``""`` when none is close: appended to an "unknown ..." message."""
    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=cutoff)
    if not close:
        close = [c for c in candidates if c.lower() == name.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def brief(e: BaseException) -> str:
    """``Type: first line of the message`` (library errors can span dozens of lines)."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__
