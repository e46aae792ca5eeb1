"""MESS+ inference logs: per-task CSVs with ``label_<m>``, ``acc_<m>``,
``energy_consumption_<m>`` and ``inference_time_<m>`` per model ``m``."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from messjax.data.loaders.assemble import (
    Part,
    assemble_table,
    check_missing,
    check_values,
    default_name,
    incomplete_rows,
)
from messjax.data.loaders.csvfile import CsvTable, csv_files, read_csv_file
from messjax.data.table import RoutingTable
from messjax.errors import ConfigError, did_you_mean

#: ``cost=`` choices of :func:`load_messplus`: column prefix and unit.
COST_KINDS: dict[str, tuple[str, str]] = {
    "energy": ("energy_consumption_", "J"),
    "time": ("inference_time_", "s"),
}

_MESSPLUS_BASE = ("doc_id", "input_text", "benchmark_name")
_MESSPLUS_PREFIXES = ("label_", "acc_norm_", "acc_", "energy_consumption_", "inference_time_")


def _messplus_models(c: CsvTable) -> list[str]:
    """Model names from the ``label_<m>`` columns; every per-model column must belong to one."""
    for base in _MESSPLUS_BASE:
        c.index(base)
    models = [h[len("label_") :] for h in c.header if h.startswith("label_") and h != "label_"]
    if not models:
        raise c.error(
            "no label_<model> columns: not a MESS+ log (expected doc_id, input_text, "
            "benchmark_name, then label_<m>, acc_<m>, energy_consumption_<m>, "
            "inference_time_<m> per model m)",
            column="label_<model>",
        )
    for m in models:
        for col in (f"energy_consumption_{m}", f"inference_time_{m}"):
            c.index(col)
        if f"acc_{m}" not in c.header and f"acc_norm_{m}" not in c.header:
            raise c.error(
                f"missing column 'acc_{m}' (or 'acc_norm_{m}'){did_you_mean(f'acc_{m}', c.header)}",
                column=f"acc_{m}",
            )
    for h in c.header:  # a per-model column of a model without label_: likely a misspelling
        for prefix in _MESSPLUS_PREFIXES:
            if h.startswith(prefix):
                m = h[len(prefix) :]
                if m not in models:
                    raise c.error(
                        f"names model {m!r} but there is no column 'label_{m}'"
                        f"{did_you_mean(f'label_{m}', c.header)}; models with labels: "
                        f"{', '.join(models)}",
                        column=h,
                    )
                break
    return models


def _read_messplus(path: str, cost: str, missing: str = "error") -> Part:
    c = read_csv_file(path)
    models = _messplus_models(c)
    model_columns = {
        m: [
            f"label_{m}",
            *(a for a in (f"acc_{m}", f"acc_norm_{m}") if a in c.header),
            f"energy_consumption_{m}",
            f"inference_time_{m}",
        ]
        for m in models
    }
    c, dropped = incomplete_rows(
        c, model_columns, [s.strip() for s in c.column("benchmark_name")], missing
    )
    label_cols = [f"label_{m}" for m in models]
    labels = np.stack([c.floats(col) for col in label_cols], axis=1)
    prefix = COST_KINDS[cost][0]
    other = next(p for k, (p, _) in COST_KINDS.items() if k != cost)
    costs = np.stack([c.floats(f"{prefix}{m}") for m in models], axis=1)
    others = np.stack([c.floats(f"{other}{m}") for m in models], axis=1)
    part = Part(
        c,
        c.strings("input_text", allow_empty=True),
        labels,
        costs,
        models,
        [s.strip() for s in c.strings("benchmark_name")],  # as the ids: "arc " is "arc"
        [s.strip() for s in c.strings("doc_id")],
        "doc_id",
        dropped,
    )
    check_values(part, label_cols, [f"{prefix}{m}" for m in models])
    check_values(
        dataclasses.replace(part, costs=others), label_cols, [f"{other}{m}" for m in models]
    )
    for j, m in enumerate(models):
        for acc_col in (f"acc_{m}", f"acc_norm_{m}"):
            if acc_col in c.header:
                acc = c.floats(acc_col)
                bad = np.flatnonzero(acc != labels[:, j])
                if bad.size:
                    i = int(bad[0])
                    raise c.error(
                        f"{acc_col} is {c.rows[i][c.index(acc_col)]!r} but label_{m} "
                        f"is {c.rows[i][c.index(f'label_{m}')]!r} (they must agree)",
                        column=acc_col,
                        i=i,
                    )
    return part


def load_messplus(
    path: str | os.PathLike,
    cost: str = "energy",
    *,
    name: str | None = None,
    missing: str = "error",
) -> RoutingTable:
    """Load MESS+ inference logs: a folder of per-task CSVs (read in sorted file order) or one CSV.

    Args:
      path: a log folder (every ``*.csv`` in it) or a single CSV file.
      cost: ``"energy"`` (``energy_consumption_<m>``, unit ``"J"``) or ``"time"``
        (``inference_time_<m>``, unit ``"s"``). Both columns are validated either way.
      name: the zoo name; default the folder/file name without a ``messplus-`` prefix.
      missing: ``"error"`` (default): an empty (or NaN) label, acc, energy or time cell is an
        error naming file, column and line; ``"drop"``: such rows are dropped with an
        :class:`IncompleteRowsWarning` counting them per model and per task.

    Returns:
      A table with models sorted cheapest first by mean cost, ``ids`` = ``doc_id``,
      ``tasks`` = ``benchmark_name``, ``source`` = ``path``.
    """
    if cost not in COST_KINDS:
        raise ConfigError("cost", f"unknown cost {cost!r}; choose one of {', '.join(COST_KINDS)}")
    check_missing(missing)
    parts = [_read_messplus(f, cost, missing) for f in csv_files(path)]
    return assemble_table(
        parts, cost_unit=COST_KINDS[cost][1], name=name or default_name(path), source=str(path)
    )
