"""``summary.csv``: one row per cell of a sweep, written and read back.

Columns: ``zoo, task, method, featurizer, head, seed``, the hyperparameters (``alpha, V, c,
learning_rate, epochs, feedback_rate, cost_estimator, inference_cost, training_cost``), then
``num_requests, total_cost, cost_unit, satisfaction, sla_met, explore_count,
cumulative_violation, max_queue, final_queue, final_ideal_queue``, ``share_<model>`` (share
of requests served by the model) and ``queried_<model>`` (requests the model ran,
explorations included). Floats are written as the shortest decimal that reads back to the same
float32.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from messjax.errors import MessjaxError
from messjax.fileio import atomic_write_text

SUMMARY_CSV = "summary.csv"
#: Columns read back as integers / booleans / strings (everything else numeric is float).
INT_COLUMNS = ("seed", "epochs", "num_requests", "explore_count")
STR_COLUMNS = ("zoo", "task", "method", "featurizer", "head", "cost_estimator", "cost_unit")


def _cell(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        return str(np.float32(v))
    return str(v)


def format_summary_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([_cell(row[c]) for c in columns])
    return buf.getvalue()


def write_summary_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``summary.csv`` atomically (temporary file + rename)."""
    return atomic_write_text(path, format_summary_csv(rows))


def _parse(column: str, value: str) -> Any:
    if column in STR_COLUMNS:
        return value
    if value in ("true", "false"):
        return value == "true"
    if column in INT_COLUMNS or column.startswith("queried_"):
        return int(value)
    try:
        return float(value)
    except ValueError:
        return value


def read_summary_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a ``summary.csv`` with numbers and booleans parsed."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = []
            for row in reader:
                if None in row or None in row.values():
                    raise ValueError(f"line {reader.line_num} has a different number of cells")
                rows.append({k: _parse(k, v) for k, v in row.items()})
            return rows
    except (ValueError, UnicodeDecodeError, csv.Error) as e:
        raise MessjaxError(f"{path} is unreadable ({e}): rerun the command that wrote it") from None


def normalize_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows exactly as ``summary.csv`` reads back (float32 values as their shortest decimal)."""
    text = format_summary_csv(rows)
    return [{k: _parse(k, v) for k, v in r.items()} for r in csv.DictReader(io.StringIO(text))]
