"""RouteLLM evaluation CSVs: ``prompt`` plus one True/False column per model id; costs
from a per-model price table (see :mod:`messjax.data.loaders.prices`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from messjax.data.loaders.assemble import (
    Part,
    assemble_table,
    check_missing,
    default_name,
    incomplete_rows,
)
from messjax.data.loaders.csvfile import csv_files, read_csv_file
from messjax.data.table import RoutingTable
from messjax.errors import ConfigError, did_you_mean

_ROUTELLM_TASK = ("task", "eval_name")
_ROUTELLM_ID = ("id", "sample_id")
_ROUTELLM_RESPONSE = "_response"


def _read_routellm(path: str, prices: Mapping[str, float], missing: str = "error") -> Part:
    c = read_csv_file(path)
    c.index("prompt")
    task_col = next((h for h in _ROUTELLM_TASK if h in c.header), None)
    id_col = next((h for h in _ROUTELLM_ID if h in c.header), None)
    candidates = [h for h in c.header if h not in ("prompt", *_ROUTELLM_TASK, *_ROUTELLM_ID)]
    # '<model>_response' holds a model's answer text (RouteLLM's GSM8K file), not a model
    models = [
        h
        for h in candidates
        if not (h.endswith(_ROUTELLM_RESPONSE) and h[: -len(_ROUTELLM_RESPONSE)] in candidates)
    ]
    if not models:
        raise c.error("no model columns: expected 'prompt' plus one True/False column per model id")
    for m in models:
        if m not in prices:
            raise c.error(
                f"model {m!r} has no price{did_you_mean(m, list(prices))}; pass "
                f"prices={{{m!r}: <dollars per request>, ...}}",
                column=m,
            )
    for m in prices:
        if m not in models:
            raise c.error(
                f"a price is given for model {m!r} but the file has no such column"
                f"{did_you_mean(m, models)}; model columns: {', '.join(models)}",
                column=m,
            )
    stem = [Path(path).stem] * len(c.rows)
    task_of = [s.strip() for s in c.column(task_col)] if task_col else stem
    c, dropped = incomplete_rows(c, {m: [m] for m in models}, task_of, missing)
    labels = np.stack([c.bools(m) for m in models], axis=1)
    costs = np.broadcast_to(
        np.array([prices[m] for m in models], dtype=np.float64), labels.shape
    ).copy()
    tasks = [s.strip() for s in c.strings(task_col)] if task_col else stem[: len(c.rows)]
    ids = [s.strip() for s in c.strings(id_col)] if id_col else [str(i) for i in c.positions]
    return Part(
        c,
        c.strings("prompt", allow_empty=True),
        labels,
        costs,
        models,
        tasks,
        ids,
        id_col or "<row index>",
        dropped,
    )


def load_routellm(
    path: str | os.PathLike,
    prices: Mapping[str, float],
    *,
    name: str | None = None,
    missing: str = "error",
) -> RoutingTable:
    """Load a RouteLLM evaluation CSV (or a folder of them) with per-request model prices.

    Columns: ``prompt`` plus one True/False column per model id (``True``/``False``/``true``/
    ``false``/``1``/``0``); optional ``task`` or ``eval_name`` (default: the file stem) and
    ``id`` or ``sample_id`` (default: the 0-based data row index). ``<model>_response`` columns
    (answer texts, as in RouteLLM's GSM8K file) are not models; every other column is a model
    column. ``costs[t, m] = prices[m]`` (``cost_unit="$"``). A folder is one CSV per subject
    (RouteLLM's ``mmlu/responses/mmlu_<subject>.csv``): the task is the file stem.
    ``missing``: as in :func:`load_routerbench` (empty True/False cells).

    Raises:
      DataError: a model column has no price, or a price names a model the file lacks.
      ConfigError: a price is negative, NaN or infinite.
    """
    for m, p in prices.items():
        try:
            value = float(p)
        except (TypeError, ValueError):
            raise ConfigError(f"prices[{m!r}]", f"not a number: {p!r}") from None
        if not np.isfinite(value) or value < 0:
            raise ConfigError(f"prices[{m!r}]", f"must be a finite number >= 0, got {p!r}")
    check_missing(missing)
    parts = [_read_routellm(f, prices, missing) for f in csv_files(path)]
    return assemble_table(parts, cost_unit="$", name=name or default_name(path), source=str(path))
