"""Glue between tables, features and the engine: run a grid on a routing table, tabulate it.

Every runner (CLI ``run``/``sweep``/``reproduce``/``bench``, notebooks, experiments/) goes
through :func:`sweep_table`, so a cell's numbers are the same wherever it is computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from messjax.core.sweep import Grid, SweepResult, run_sweep
from messjax.core.types import CHOICE_LEAVES, HPARAM_NAMES, EngineConfig
from messjax.data.table import RoutingTable
from messjax.features import featurize


def table_features(
    table: RoutingTable, featurizer: str = "hash", *, cache_dir=None, progress: bool = False
) -> np.ndarray:
    """``[T, d]`` float32 embeddings of the table's texts (cached on disk)."""
    return featurize(list(table.texts), featurizer, cache_dir=cache_dir, progress=progress)


def engine_config(table: RoutingTable, x: np.ndarray, head: str = "mlp", **kw) -> EngineConfig:
    return EngineConfig(num_models=table.num_models, feature_dim=int(x.shape[1]), head=head, **kw)


def sweep_table(
    table: RoutingTable,
    grid: Grid,
    *,
    x: np.ndarray | None = None,
    featurizer: str = "hash",
    head: str = "mlp",
    method: str = "fast",
    trace_every: int = 0,
    chunk_size: int | None = None,
    num_devices: int | None = None,
    cache_dir=None,
    progress=None,
    **engine: Any,
) -> SweepResult:
    """MESS+ on every cell of ``grid`` over ``table`` (one stream; each seed shuffles it).

    ``x`` overrides the featurizer with precomputed embeddings (rows aligned with the table);
    ``engine`` are further :class:`EngineConfig` fields (e.g. ``replay=256``).
    """
    if x is None:
        x = table_features(table, featurizer, cache_dir=cache_dir)
    bad = np.argwhere(~np.isfinite(np.asarray(x)))
    if bad.size:  # one NaN row would reach the predictor and make every later s_hat NaN
        from messjax.errors import MessjaxError

        raise MessjaxError(
            f"features have {len(bad)} NaN or infinite value(s) (first at row {bad[0][0]}, "
            f"column {bad[0][1]}); refusing to sweep on them"
        )
    config = engine_config(table, x, head, **engine)
    return run_sweep(
        np.asarray(x),
        table.labels,
        table.costs,
        grid,
        config,
        method=method,
        trace_every=trace_every,
        chunk_size=chunk_size,
        num_devices=num_devices,
        progress=progress,
    )


def summary_rows(result: SweepResult, table: RoutingTable, **fixed: Any) -> list[dict[str, Any]]:
    """One flat dict per cell: ``fixed`` columns (e.g. zoo, task, method), the seed and
    hyperparameters, then the summary with per-model served/queried shares."""
    cols = result.grid.columns()
    s = result.summary
    rows = []
    for i in range(result.grid.size):
        row: dict[str, Any] = dict(fixed)
        row["seed"] = int(cols["seed"][i])
        for k in HPARAM_NAMES:
            v = cols[k][i]
            row[k] = CHOICE_LEAVES[k][int(v)] if k in CHOICE_LEAVES else v.item()
        n = int(s.num_requests[i])
        row.update(
            num_requests=n,
            total_cost=float(s.total_cost[i]),
            cost_unit=table.cost_unit,
            satisfaction=float(s.satisfaction[i]),
            sla_met=bool(s.sla_met[i]),
            explore_count=int(s.explore_count[i]),
            cumulative_violation=float(s.cumulative_violation[i]),
            max_queue=float(s.max_queue[i]),
            final_queue=float(s.final_queue[i]),
            final_ideal_queue=float(s.final_ideal_queue[i]),
        )
        for m, name in enumerate(table.models):
            row[f"share_{name}"] = float(s.served_counts[i][m]) / max(n, 1)
        for m, name in enumerate(table.models):
            row[f"queried_{name}"] = int(s.query_counts[i][m])
        rows.append(row)
    return rows
