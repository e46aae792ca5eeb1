"""Zoos by name or path: the named zoos under the data folder, the log format told from a
file's columns, and inner joins of two zoos that answered the same requests."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from messjax.data.loaders.assemble import check_missing
from messjax.data.loaders.csvfile import csv_files, read_header
from messjax.data.loaders.messplus import COST_KINDS, load_messplus
from messjax.data.loaders.routellm import load_routellm
from messjax.data.loaders.routerbench import ROUTERBENCH_BASE, load_routerbench
from messjax.data.table import RoutingTable, sort_models
from messjax.errors import ConfigError, DataError, did_you_mean


class ZooJoinWarning(UserWarning):
    """:func:`join_zoos` dropped requests (or whole tasks) present in only one of the zoos."""


def _qualified(table: RoutingTable) -> list[str]:
    """Model names ``<zoo>/<model>``; in a joined zoo (name ``a+b``) names already qualified by
    one of its parts (``a/<model>``) are kept. Model ids may contain ``/`` themselves."""
    parts = table.name.split("+")
    return [
        m if m.split("/", 1)[0] in parts and "+" in table.name else f"{table.name}/{m}"
        for m in table.models
    ]


def join_zoos(
    a: RoutingTable, b: RoutingTable, how: str = "inner", *, name: str | None = None
) -> RoutingTable:
    """Join two zoos that answered the same requests into one zoo with the models of both.

    Rows are matched on (task, id) and kept in ``a``'s order; models are named
    ``"<zoo>/<model>"`` (e.g. ``llama3/small``, ``qwen2/small``) and sorted cheapest first.
    The texts of every joined request must match.

    Only ``how="inner"`` exists: requests (and whole tasks) present in only one zoo are dropped,
    and a :class:`ZooJoinWarning` names each such task with its row count and zoo.

    Raises:
      DataError: the zoos share no request ("zoos do not join"), a joined request's texts differ,
        the cost units differ, or the model names collide.
    """
    if how != "inner":
        raise ConfigError("how", f"only 'inner' is supported, got {how!r}")
    where = f"{a.source} + {b.source}"
    if a.cost_unit != b.cost_unit:
        raise DataError(
            f"cannot join zoo {a.name!r} (costs in {a.cost_unit}) with zoo "
            f"{b.name!r} (costs in {b.cost_unit})",
            source=where,
        )
    models = _qualified(a) + _qualified(b)
    if len(set(models)) != len(models):
        raise DataError(
            f"model names collide when joining {a.name!r} and {b.name!r}: "
            f"{models}; give the zoos different names (table.replace(name=...))",
            source=where,
        )
    b_index = {k: i for i, k in enumerate(zip(b.tasks.tolist(), b.ids.tolist(), strict=True))}
    ia, ib = [], []
    for i, k in enumerate(zip(a.tasks.tolist(), a.ids.tolist(), strict=True)):
        j = b_index.get(k)
        if j is not None:
            ia.append(i)
            ib.append(j)
    if not ia:
        raise DataError(
            f"zoos do not join: zoo {a.name!r} (tasks {', '.join(a.task_names)}) "
            f"and zoo {b.name!r} (tasks {', '.join(b.task_names)}) share no "
            "(task, id) pair",
            source=where,
        )
    ia_arr, ib_arr = np.asarray(ia), np.asarray(ib)
    mismatch = np.flatnonzero(a.texts[ia_arr] != b.texts[ib_arr])
    if mismatch.size:
        i, j = ia_arr[mismatch[0]], ib_arr[mismatch[0]]
        raise DataError(
            f"request texts differ between zoo {a.name!r} and zoo {b.name!r} at task "
            f"{a.tasks[i]!r} id {a.ids[i]!r}: {_short(a.texts[i])!r} vs {_short(b.texts[j])!r}",
            source=where,
            column="text",
        )
    _warn_dropped(a, b, ia_arr, ib_arr)
    table = RoutingTable(
        texts=a.texts[ia_arr],
        labels=np.concatenate([a.labels[ia_arr], b.labels[ib_arr]], axis=1),
        costs=np.concatenate([a.costs[ia_arr], b.costs[ib_arr]], axis=1),
        models=tuple(models),
        tasks=a.tasks[ia_arr],
        ids=a.ids[ia_arr],
        cost_unit=a.cost_unit,
        name=name or f"{a.name}+{b.name}",
        source=where,
        dropped={t: a.dropped.get(t, 0) + b.dropped.get(t, 0) for t in {**a.dropped, **b.dropped}},
    )
    return sort_models(table)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _warn_dropped(a: RoutingTable, b: RoutingTable, ia: np.ndarray, ib: np.ndarray) -> None:
    notes = []
    for zoo, kept in ((a, ia), (b, ib)):
        mask = np.ones(len(zoo), dtype=bool)
        mask[kept] = False
        if not mask.any():
            continue
        tasks, counts = np.unique(zoo.tasks[mask], return_counts=True)
        totals = dict(zip(*np.unique(zoo.tasks, return_counts=True), strict=True))
        for task, n in zip(tasks.tolist(), counts.tolist(), strict=True):
            whole = "whole task" if n == totals[task] else f"of {totals[task]}"
            notes.append(f"{task} ({n} rows, {whole}, only in {zoo.name})")
    if notes:
        warnings.warn(
            f"join_zoos({a.name}, {b.name}, how='inner') dropped requests present in "
            f"only one zoo: {'; '.join(notes)}",
            ZooJoinWarning,
            stacklevel=3,
        )


@dataclasses.dataclass(frozen=True)
class ZooSpec:
    """A named zoo: a log folder under the data dir, or an inner join of other named zoos."""

    description: str
    folder: str | None = None
    join: tuple[str, ...] = ()


ZOOS: dict[str, ZooSpec] = {
    "llama3": ZooSpec(
        "MESS+ Llama-3 zoo: 3 models (1B, 8B, 70B), 9 tasks, 13252 requests",
        folder="messplus-llama3",
    ),
    "qwen2": ZooSpec(
        "MESS+ Qwen2 zoo: 4 models (0.5B, 1.5B, 7B, 32B), 8 tasks, 13528 requests",
        folder="messplus-qwen2",
    ),
    "llama3+qwen2": ZooSpec(
        "llama3 and qwen2 joined on (task, doc_id): 7 models, 8 tasks", join=("llama3", "qwen2")
    ),
}


def detect_format(path: str | os.PathLike) -> str:
    """``"messplus"``, ``"routerbench"`` or ``"routellm"`` from the columns of a CSV/folder."""
    first = csv_files(path)[0]
    header = read_header(first)
    if any(h.startswith("label_") for h in header):
        return "messplus"
    # RouterBench: per-model ``X|...`` columns. RouteLLM files may carry RouterBench's
    # sample_id / eval_name columns too, but never a ``|`` column.
    if any(h.endswith("|total_cost") for h in header) or (
        all(h in header for h in ROUTERBENCH_BASE) and any("|" in h for h in header)
    ):
        return "routerbench"
    if "prompt" in header:
        return "routellm"
    raise DataError(
        f"unrecognised log format (columns: {', '.join(header)}); expected MESS+ "
        "(label_<m> columns), RouterBench (sample_id, prompt, eval_name, "
        "<m>|total_cost) or RouteLLM (prompt plus True/False columns)",
        source=first,
        line=1,
    )


def _data_root(name: str, data_dir: str | os.PathLike | None) -> Path:
    root = data_dir or os.environ.get("MESSJAX_DATA_DIR")
    if not root:
        raise DataError(
            f"zoo {name!r} is read from the data folder, which is not set: pass "
            "--data-dir DIR or set MESSJAX_DATA_DIR",
            source=None,
        )
    if not Path(root).is_dir():
        raise DataError(
            "data folder does not exist (from --data-dir or MESSJAX_DATA_DIR)", source=str(root)
        )
    return Path(root)


def load_zoo(
    name_or_path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    cost: str = "energy",
    *,
    missing: str = "error",
    prices: Mapping[str, float] | None = None,
) -> RoutingTable:
    """A zoo by name (see :data:`ZOOS`: ``llama3``, ``qwen2``, ``llama3+qwen2``) or by path.

    Names are looked up under ``data_dir`` (default ``$MESSJAX_DATA_DIR``); ``a+b`` of known
    names is the inner :func:`join_zoos` of the two. A path to a folder or CSV is read by its
    columns: MESS+ (``label_*``), RouterBench (``<model>|total_cost``; ``cost`` must stay
    ``"energy"``, the default, as the costs are dollars) or RouteLLM (``prompt`` plus
    True/False model columns; needs ``prices``, dollars per request per model).
    ``missing``: ``"error"`` or ``"drop"`` rows with empty score or cost cells (see
    :func:`load_routerbench`).
    """
    if cost not in COST_KINDS:
        raise ConfigError("cost", f"unknown cost {cost!r}; choose one of {', '.join(COST_KINDS)}")
    check_missing(missing)
    key = str(name_or_path)
    if not key.strip():
        raise DataError(
            f"empty zoo name {key!r}: give a zoo ({', '.join(ZOOS)}) or a path to a log "
            "folder or CSV file",
            source=None,
        )
    if key in ZOOS or (
        isinstance(name_or_path, str) and "+" in key and all(p in ZOOS for p in key.split("+"))
    ):
        if prices:
            raise ConfigError(
                "prices", f"zoo {key!r} has costs of its own; prices are for RouteLLM files"
            )
        return _load_named(key, data_dir, cost, missing)
    path = Path(name_or_path)
    if path.exists():
        fmt = detect_format(path)
        if fmt != "routellm" and prices:
            raise ConfigError(
                "prices",
                f"{path} is a {'MESS+' if fmt == 'messplus' else 'RouterBench'} log with cost "
                "columns; prices (--price/--prices) are only for RouteLLM files, which have none",
            )
        if fmt == "messplus":
            return load_messplus(path, cost=cost, missing=missing)
        if fmt == "routerbench":
            if cost != "energy":
                raise ConfigError("cost", f"RouterBench logs have dollar costs only, got {cost!r}")
            return load_routerbench(path, missing=missing)
        if cost != "energy":
            raise ConfigError(
                "cost", f"RouteLLM logs get their costs from the prices only, got {cost!r}"
            )
        if not prices:
            raise DataError(
                "looks like a RouteLLM CSV (prompt plus True/False model columns): it has no "
                "costs, so give a price per model: --price MODEL=DOLLARS "
                "(repeatable) or --prices FILE (JSON/YAML) with messjax evaluate, run or data "
                "describe; in Python "
                "messjax.data.load_routellm(path, prices={model: dollars, ...})",
                source=str(path),
            )
        return load_routellm(path, prices, missing=missing)
    if os.sep in key or "/" in key or key.endswith(".csv"):
        raise DataError("no such file or folder", source=key)
    raise DataError(
        f"unknown zoo {key!r}{did_you_mean(key, list(ZOOS))}; known zoos: "
        f"{', '.join(ZOOS)} (or give a path to a log folder or CSV file)",
        source=None,
    )


def _load_named(
    name: str, data_dir: str | os.PathLike | None, cost: str, missing: str = "error"
) -> RoutingTable:
    spec = ZOOS.get(name) or ZooSpec(name, join=tuple(name.split("+")))
    if spec.folder is not None:
        folder = _data_root(name, data_dir) / spec.folder
        if not folder.is_dir():
            raise DataError(
                f"zoo {name!r}: the data folder has no {spec.folder}/", source=str(folder.parent)
            )
        return load_messplus(folder, cost=cost, name=name, missing=missing)
    tables = [_load_named(part, data_dir, cost, missing) for part in spec.join]
    joined = tables[0]
    for t in tables[1:]:
        joined = join_zoos(joined, t)
    return joined.replace(name=name)
