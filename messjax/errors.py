"""Errors raised on bad input. Every message names what is wrong and where."""

from __future__ import annotations


class MessjaxError(ValueError):
    """Base class: bad input given to messjax (data, config, arguments)."""


class DataError(MessjaxError):
    """A routing log or table is malformed.

    The message names the file (or ``<table>`` for in-memory data), the column and the first
    offending row (0-based data row, i.e. not counting the header).
    """

    def __init__(self, problem: str, *, source: str = "<table>", column: str | None = None,
                 row: int | None = None):
        self.problem, self.source, self.column, self.row = problem, source, column, row
        where = [f"file {source}"]
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{', '.join(where)}: {problem}")


class ConfigError(MessjaxError):
    """A config or hyperparameter is invalid; the message names the key."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"config key {key!r}: {problem}")
