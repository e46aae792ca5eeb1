"""RouterBench CSVs: ``sample_id, prompt, eval_name``, per model id ``X`` a score column
``X`` and its dollar cost ``X|total_cost``."""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence

import numpy as np

from messjax.data.loaders.assemble import (
    Part,
    assemble_table,
    check_missing,
    check_values,
    default_name,
    incomplete_rows,
)
from messjax.data.loaders.csvfile import csv_files, read_csv_file
from messjax.data.table import RoutingTable
from messjax.errors import did_you_mean

ROUTERBENCH_BASE = ("sample_id", "prompt", "eval_name")


def _parse_prompt(text: str) -> str:
    """A prompt stored as a Python list literal ("['a', 'b']") becomes its parts joined by "\\n".

    Parsed with :func:`ast.literal_eval` (never ``eval``); text that is not a list of strings is
    kept verbatim.
    """
    s = text.strip()
    if not (s.startswith("[") and s.endswith("]")):
        return text
    try:
        value = ast.literal_eval(s)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return text


def _read_routerbench(path: str, models: Sequence[str] | None, missing: str = "error") -> Part:
    c = read_csv_file(path)
    for base in ROUTERBENCH_BASE:
        c.index(base)
    known = [h[: -len("|total_cost")] for h in c.header if h.endswith("|total_cost")]
    if not known:
        raise c.error(
            "no '<model>|total_cost' columns: not a RouterBench CSV (expected "
            "sample_id, prompt, eval_name, then per model X: X, X|model_response, "
            "X|total_cost)",
            column="<model>|total_cost",
        )
    for h in c.header:  # a '<model>|...' column without '<model>|total_cost': likely a typo
        if "|" in h and h.split("|", 1)[0] not in known:
            m = h.split("|", 1)[0]
            raise c.error(
                f"names model {m!r} but there is no column '{m}|total_cost'"
                f"{did_you_mean(f'{m}|total_cost', c.header)}",
                column=h,
            )
    if models is None:
        models = known
    else:
        if isinstance(models, str) or not list(models):
            raise c.error(f"models must be a non-empty list of model ids, got {models!r}")
        models = list(models)
        for m in models:
            if m not in known:
                raise c.error(
                    f"unknown model {m!r}{did_you_mean(m, known)}; models in the "
                    f"file: {', '.join(known)}",
                    column=m,
                )
    for m in models:
        c.index(m, what="score column")
    model_columns = {m: [m, f"{m}|total_cost"] for m in models}
    c, dropped = incomplete_rows(
        c, model_columns, [s.strip() for s in c.column("eval_name")], missing
    )
    labels = np.stack([c.floats(m) for m in models], axis=1)
    costs = np.stack([c.floats(f"{m}|total_cost") for m in models], axis=1)
    texts = [_parse_prompt(p) for p in c.strings("prompt", allow_empty=True)]
    part = Part(
        c,
        texts,
        labels,
        costs,
        list(models),
        [s.strip() for s in c.strings("eval_name")],
        [s.strip() for s in c.strings("sample_id")],
        "sample_id",
        dropped,
    )
    check_values(part, list(models), [f"{m}|total_cost" for m in models])
    return part


def load_routerbench(
    path: str | os.PathLike,
    models: Sequence[str] | None = None,
    *,
    name: str | None = None,
    missing: str = "error",
) -> RoutingTable:
    """Load a RouterBench CSV (or a folder of them).

    Model ids are the columns ``X`` for which ``X|total_cost`` exists; ``X`` holds the score in
    [0, 1] (0/1 or fractional), ``X|total_cost`` the cost in dollars (``cost_unit="$"``).
    ``oracle_model_to_route_to`` and ``X|model_response`` are not used. A ``prompt`` stored as a
    Python list literal is parsed with :func:`ast.literal_eval` and its parts joined with
    ``"\\n"``. ``tasks`` = ``eval_name``, ``ids`` = ``sample_id``.

    Args:
      path: a CSV file or a folder of them.
      models: keep only these model ids (default: all).
      name: the zoo name (default: the file or folder name).
      missing: ``"error"`` (default) or ``"drop"``: requests with an empty (or NaN) score or
        cost cell of a kept model (public exports have a few that some model never answered)
        are an error naming the file, column and line, or are dropped with an
        :class:`IncompleteRowsWarning` counting them per model and per task.

    A leading unnamed column (the row index pandas' ``to_csv`` writes), a UTF-8 BOM and CRLF
    line ends are accepted; pickles (RouterBench is published as ``.pkl``) are refused with
    the command that converts them.
    """
    check_missing(missing)
    parts = [_read_routerbench(f, models, missing) for f in csv_files(path)]
    return assemble_table(parts, cost_unit="$", name=name or default_name(path), source=str(path))
