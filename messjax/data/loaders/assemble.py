"""From parsed files to a table: rows with missing cells (refused or dropped with a
warning), value checks at file lines, and the parts of a zoo joined into one sorted
:class:`~messjax.data.table.RoutingTable`."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from messjax.data.loaders.csvfile import CsvTable
from messjax.data.table import RoutingTable, sort_models, validate_arrays
from messjax.errors import ConfigError, DataError

#: ``missing=`` choices: refuse incomplete rows (naming the first), or drop them with a warning.
MISSING = ("error", "drop")
_DROP_HINT = (
    "to drop the rows with empty score or cost cells (with a warning counting them) pass "
    "missing='drop' (command line: --drop-incomplete; config: data.missing: drop)"
)


class IncompleteRowsWarning(UserWarning):
    """``missing="drop"`` dropped requests with an empty score or cost cell; the message counts
    them per model and per task and names the file lines. Attributes: ``rows`` (count),
    ``per_model`` and ``per_task`` (dicts of counts)."""

    def __init__(self, message: str, rows: int, per_model: dict, per_task: dict):
        super().__init__(message)
        self.rows, self.per_model, self.per_task = rows, per_model, per_task


@dataclasses.dataclass
class _Dropped:
    """Incomplete rows dropped from one file (``missing="drop"``)."""

    path: str
    read: int  # data rows in the file
    lines: list[int]  # file line of each dropped row
    per_model: dict[str, int]  # rows in which the model's score or cost is empty
    per_task: dict[str, int]


def check_missing(missing: str) -> str:
    if missing not in MISSING:
        raise ConfigError("missing", f"must be one of {', '.join(MISSING)}, got {missing!r}")
    return missing


def _is_missing(value: str) -> bool:
    """An empty cell, or NaN (pandas writes NaN as an empty cell; some exports write 'nan')."""
    s = value.strip()
    return not s or s.lower() == "nan"


def incomplete_rows(
    c: CsvTable,
    model_columns: Mapping[str, Sequence[str]],
    tasks: Sequence[str],
    missing: str,
) -> tuple[CsvTable, _Dropped | None]:
    """Rows with a missing cell in any model's score or cost columns: an error naming the first
    (file, column, line) and the drop option, or (``missing="drop"``) removed from ``c``."""
    cols = [(m, col, c.index(col)) for m, names in model_columns.items() for col in names]
    R = len(c.rows)
    empty = np.zeros((R, len(cols)), dtype=bool)
    for k, (_, _, j) in enumerate(cols):
        empty[:, k] = [_is_missing(r[j]) for r in c.rows]
    bad = empty.any(axis=1)
    n_bad = int(bad.sum())
    if not n_bad:
        return c, None
    if missing == "error":
        i = int(np.argmax(bad))
        k = min(np.flatnonzero(empty[i]), key=lambda k: cols[k][2])  # leftmost in the file
        model, column, j = cols[k]
        value = c.rows[i][j].strip()
        what = "empty cell" if not value else f"missing value {value!r}"
        raise c.error(
            f"{what}: no score or cost of model {model!r} for this request ({n_bad} of {R} "
            f"rows have such cells); {_DROP_HINT}",
            column=column,
            i=i,
        )
    per_model = {}
    for m in model_columns:
        ks = [k for k, (mm, _, _) in enumerate(cols) if mm == m]
        n = int(empty[:, ks].any(axis=1).sum())
        if n:
            per_model[m] = n
    per_task: dict[str, int] = {}
    for i in np.flatnonzero(bad):
        per_task[tasks[i]] = per_task.get(tasks[i], 0) + 1
    dropped = _Dropped(c.path, R, c.lines[bad].tolist(), per_model, per_task)
    if n_bad == R:
        raise DataError(
            f"no usable rows: all {R} rows have an empty score or cost cell and were dropped "
            f"(missing='drop'; per model: {format_counts(per_model)})",
            source=c.path,
        )
    keep = np.flatnonzero(~bad)
    kept = CsvTable(c.path, c.header, [c.rows[i] for i in keep], c.lines[keep], c.positions[keep])
    return kept, dropped


def format_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _warn_incomplete(parts: Sequence[Part]) -> dict[str, int]:
    """One :class:`IncompleteRowsWarning` for everything the parts dropped; per-task counts."""
    drops = [p.dropped for p in parts if p.dropped is not None]
    if not drops:
        return {}
    per_model: dict[str, int] = {}
    per_task: dict[str, int] = {}
    for d in drops:
        for k, v in d.per_model.items():
            per_model[k] = per_model.get(k, 0) + v
        for k, v in d.per_task.items():
            per_task[k] = per_task.get(k, 0) + v
    n = sum(len(d.lines) for d in drops)
    read = sum(p.dropped.read if p.dropped else len(p.texts) for p in parts)
    where = "; ".join(
        f"{d.path} line{'s' * (len(d.lines) > 1)} "
        + ", ".join(str(x) for x in d.lines[:8])
        + (f" and {len(d.lines) - 8} more" if len(d.lines) > 8 else "")
        for d in drops
    )
    warnings.warn(
        IncompleteRowsWarning(
            f"dropped {n} of {read} requests with an empty score or cost cell "
            f"(missing='drop'): per model {format_counts(per_model)}; "
            f"per task {format_counts(per_task)}; "
            f"at {where}",
            n,
            per_model,
            per_task,
        ),
        stacklevel=3,
    )
    return per_task


@dataclasses.dataclass
class Part:
    """The requests read from one file, validated, with file lines for later messages."""

    csv: CsvTable
    texts: list[str]
    labels: np.ndarray  # [R, M] in the part's model order
    costs: np.ndarray
    models: list[str]
    tasks: list[str]
    ids: list[str]
    id_column: str
    dropped: _Dropped | None = None


def check_values(part: Part, label_columns: Sequence[str], cost_columns: Sequence[str]) -> None:
    """First NaN/out-of-range label or NaN/negative cost, reported at its file line."""
    try:
        validate_arrays(
            part.labels,
            part.costs,
            part.models,
            source=part.csv.path,
            label_columns=label_columns,
            cost_columns=cost_columns,
            rows=part.csv.lines,
        )
    except DataError as e:  # validate_arrays says "row"; here the number is a file line
        raise DataError(e.problem, source=e.source, column=e.column, line=e.row) from None


def assemble_table(
    parts: Sequence[Part], *, cost_unit: str, name: str, source: str
) -> RoutingTable:
    """Check the parts agree on the zoo and have unique (task, id); build the sorted table."""
    models = parts[0].models
    for part in parts[1:]:
        if set(part.models) != set(models):
            raise DataError(
                f"models {sorted(part.models)} differ from {sorted(models)} in {parts[0].csv.path}",
                source=part.csv.path,
            )
    first_seen: dict[tuple[str, str], tuple[str, int]] = {}
    for part in parts:
        for i, key in enumerate(zip(part.tasks, part.ids, strict=True)):
            line = int(part.csv.lines[i])
            if key in first_seen:
                where, at = first_seen[key]
                at_file = "" if where == part.csv.path else f"file {where}, "
                raise DataError(
                    f"duplicate id {key[1]!r} in task {key[0]!r} (first seen at "
                    f"{at_file}line {at})",
                    source=part.csv.path,
                    column=part.id_column,
                    line=line,
                )
            first_seen[key] = (part.csv.path, line)
    labels, costs = [], []
    for part in parts:
        order = [part.models.index(m) for m in models]
        labels.append(part.labels[:, order])
        costs.append(part.costs[:, order])
    dropped = _warn_incomplete(parts)
    table = RoutingTable(
        texts=np.array([t for p in parts for t in p.texts], dtype=object),
        labels=np.concatenate(labels),
        costs=np.concatenate(costs),
        models=tuple(models),
        tasks=np.array([t for p in parts for t in p.tasks], dtype=object),
        ids=np.array([i for p in parts for i in p.ids], dtype=object),
        cost_unit=cost_unit,
        name=name,
        source=source,
        dropped=dropped,
    )
    return sort_models(table)


def default_name(path: str | os.PathLike) -> str:
    stem = Path(path).stem if Path(path).is_file() else Path(path).name
    return stem.removeprefix("messplus-") or stem
