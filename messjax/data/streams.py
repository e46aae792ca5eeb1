"""Request streams built from a routing table: seeded shuffles, task chains, splits; and
:func:`rechunk`, which regroups a stream read in pieces into fixed-size chunks.

All randomness comes from :func:`permutation` (``numpy.random.default_rng(seed)``), so the
engine can reproduce any stream's order from its seed alone. Every function returns a new
:class:`~messjax.data.table.RoutingTable`; the input is never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from messjax.data.table import RoutingTable, concat
from messjax.errors import ConfigError, DataError

__all__ = [
    "chain",
    "chain_tasks",
    "leave_one_task_out",
    "permutation",
    "rechunk",
    "shuffle",
    "train_test_split",
]


def permutation(T: int, seed: int) -> np.ndarray:
    """The seeded order of ``T`` requests: ``numpy.random.default_rng(seed).permutation(T)``."""
    if T < 0:
        raise ConfigError("T", f"must be >= 0, got {T}")
    return np.random.default_rng(seed).permutation(T)


def shuffle(table: RoutingTable, seed: int) -> RoutingTable:
    """The table's rows in the order :func:`permutation` ``(len(table), seed)``."""
    return table.take(permutation(len(table), seed))


def chain(*tables: RoutingTable, seed: int | None = None, name: str | None = None) -> RoutingTable:
    """A non-stationary stream: the tables one after the other (same zoo, same cost unit).

    With ``seed`` each table is first shuffled with that same seed, so each segment has the order
    ``shuffle(table, seed)`` would give on its own.
    """
    if not tables:
        raise DataError("chain() needs at least one table")
    parts = [shuffle(t, seed) if seed is not None else t for t in tables]
    return concat(parts, name=name)


def chain_tasks(table: RoutingTable, tasks: Sequence[str], seed: int | None = None) -> RoutingTable:
    """A non-stationary stream of ``table``'s tasks in the given order (e.g. ``["arc_challenge",
    "piqa", "winogrande"]``), each task shuffled with ``seed`` if given (segment k equals
    ``shuffle(table.select_task(tasks[k]), seed)``)."""
    if isinstance(tasks, str):
        tasks = [tasks]
    if not tasks:
        raise DataError("chain_tasks() needs at least one task name", source=table.source)
    seen: set[str] = set()
    for task in tasks:
        if task in seen:
            raise DataError(f"task {task!r} is listed twice in the chain", source=table.source)
        seen.add(task)
    return chain(*(table.select_task(t) for t in tasks), seed=seed, name=table.name)


def train_test_split(
    table: RoutingTable, test_fraction: float, seed: int
) -> tuple[RoutingTable, RoutingTable]:
    """A seeded random split into ``(train, test)``: disjoint, together all rows.

    ``round(test_fraction * T)`` rows (at least 1, at most ``T - 1``) go to ``test``: the first
    ones of :func:`permutation` ``(T, seed)``. Both parts keep the table's row order (shuffle
    them separately for a stream).
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ConfigError("test_fraction", f"must be in (0, 1), got {test_fraction!r}")
    T = len(table)
    if T < 2:
        raise DataError(f"cannot split a table of {T} request(s)", source=table.source)
    n_test = min(max(round(test_fraction * T), 1), T - 1)
    perm = permutation(T, seed)
    return table.take(np.sort(perm[n_test:])), table.take(np.sort(perm[:n_test]))


def leave_one_task_out(table: RoutingTable, task: str) -> tuple[RoutingTable, RoutingTable]:
    """``(train, test)``: ``test`` is every request of ``task``, ``train`` all other tasks (both
    in table order)."""
    known = table.task_names
    if task not in known:
        table.select_task(task)  # raises the DataError listing the known tasks
    if len(known) < 2:
        raise DataError(
            f"leave_one_task_out needs at least two tasks; the table has only {task!r}",
            source=table.source,
        )
    mask = table.tasks == task
    return table.take(np.flatnonzero(~mask)), table.take(np.flatnonzero(mask))


def rechunk(pieces: Iterable, chunk_size: int) -> Iterator[tuple[np.ndarray, ...]]:
    """Regroup an iterable of ``(x, labels, costs)`` pieces of any lengths into chunks of
    exactly ``chunk_size`` rows (the last one may be shorter). Holds at most one chunk plus
    one piece."""
    buffer: list[tuple[np.ndarray, ...]] = []
    held = 0
    for piece in pieces:
        piece = tuple(np.asarray(a) for a in piece)
        if len(piece) != 3 or not (len(piece[0]) == len(piece[1]) == len(piece[2])):
            raise ConfigError("stream", "each piece must be (x, labels, costs) with equal rows")
        buffer.append(piece)
        held += len(piece[0])
        while held >= chunk_size:
            joined = tuple(np.concatenate(parts) for parts in zip(*buffer, strict=True))
            yield tuple(a[:chunk_size] for a in joined)
            rest = tuple(a[chunk_size:] for a in joined)
            held -= chunk_size
            buffer = [rest] if held else []
    if held:
        yield tuple(np.concatenate(parts) for parts in zip(*buffer, strict=True))
