"""``traces.npz``: running totals of every cell every ``trace_every`` requests.

Keys: ``<task>/<field>`` arrays ``[cells, points]`` (``[cells, points, M]`` for
``served_counts`` / ``query_counts``) with the fields of
:class:`~messjax.core.episode.Totals` (cumulative: ``num_requests, total_cost, satisfied,
explore_count, feedback_count, served_counts, query_counts, cumulative_violation, max_queue,
virtual_queue, ideal_queue``); ``<task>/row``: the ``summary.csv`` data row (0-based) of each
cell; ``<task>/models``; ``trace_every``; ``cost_unit``.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from messjax.errors import MessjaxError
from messjax.fileio import atomic_savez

TRACES_NPZ = "traces.npz"


def save_traces(
    path: str | os.PathLike,
    traces: Mapping[str, Any],
    rows: Mapping[str, np.ndarray],
    models: Mapping[str, Sequence[str]],
    *,
    trace_every: int,
    cost_unit: str,
) -> Path:
    """``traces``: task -> Totals stacked ``[cells, points]``; ``rows``: task -> csv rows."""
    arrays: dict[str, np.ndarray] = {
        "trace_every": np.asarray(trace_every),
        "cost_unit": np.asarray(cost_unit),
    }
    for task, totals in traces.items():
        for k, v in dataclasses.asdict(totals).items():
            arrays[f"{task}/{k}"] = np.asarray(v)
        arrays[f"{task}/row"] = np.asarray(rows[task], np.int64)
        arrays[f"{task}/models"] = np.asarray(list(models[task]))
    return atomic_savez(path, compressed=True, **arrays)


def load_traces(path: str | os.PathLike) -> dict[str, Any]:
    """``{"trace_every", "cost_unit", "tasks": {task: {field: array}}}`` from traces.npz."""
    out: dict[str, Any] = {"tasks": {}}
    try:
        with np.load(path, allow_pickle=False) as z:
            for key in z.files:
                if "/" in key:
                    task, field = key.rsplit("/", 1)
                    out["tasks"].setdefault(task, {})[field] = z[key]
                else:
                    out[key] = z[key].item()
    except (EOFError, ValueError, zipfile.BadZipFile, KeyError) as e:
        raise MessjaxError(
            f"{path} is unreadable ({type(e).__name__}: {e}): rerun the command that wrote it"
        ) from None
    return out
