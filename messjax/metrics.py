"""Metrics of a routing method over seeds, the same for MESS+ and every baseline.

Input is a :class:`messjax.core.episode.Summary` with a leading seed axis ``[S]`` (a
:class:`messjax.baselines.MethodResult`'s ``summary``, or a MESS+ sweep's). Per seed:

- ``cost``: total cost over the stream in display units (``MJ`` for joules, ``$`` for prices,
  ``s`` for latency);
- ``satisfaction``: final share of satisfied requests (not a mean of running averages);
- ``sla_met``: ``satisfaction >= alpha`` (up to float32 rounding, 1e-6);
- ``cumulative_violation``: ``sum_t max(0, alpha - sat_t)``, ``sat_t`` the running satisfaction;
- ``final_queue``: the virtual queue Q at the end (large: the SLA was out of reach, for MESS+
  the rule had become ``argmax_m s_hat[m]``);
- ``share_<model>``: share of requests served by each model; ``explore_share``: share of
  requests on which every model was queried (MESS+ explorations).

:func:`aggregate` gives the mean and the spread (population std, ``ddof=0``) over seeds;
:func:`add_relative_costs` the cost relative to MESS+ and to the oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from messjax.core.episode import Summary

#: cost unit of a table -> (factor to display units, display unit, column suffix)
COST_DISPLAY = {"J": (1e-6, "MJ", "mj"), "$": (1.0, "$", "usd"), "s": (1.0, "s", "s")}
#: cost unit -> the larger units a sweep's tables and figures switch to (divisor, name),
#: largest first, once the largest cost shown reaches the divisor
LARGER_UNITS = {"J": ((1e6, "MJ"), (1e3, "kJ")), "s": ((3600.0, "h"),)}
#: what a cost unit measures (axis labels)
COST_QUANTITY = {"J": "energy", "s": "time", "$": "price"}
#: tolerance of ``sla_met`` (satisfaction is float32 in MESS+ summaries)
SLA_TOL = 1e-6


def cost_display(cost_unit: str) -> tuple[float, str, str]:
    """``(scale, unit, column suffix)`` for a table's ``cost_unit``: J -> MJ, $ -> $."""
    return COST_DISPLAY.get(cost_unit, (1.0, cost_unit, cost_unit.lower()))


def cost_scale(values: Sequence[float] | np.ndarray, unit: str) -> tuple[float, str]:
    """(divisor, label) to show costs in a readable unit: J -> kJ / MJ, s -> h, $ as is."""
    top = float(np.max(np.abs(values))) if len(values) else 0.0
    for div, name in LARGER_UNITS.get(unit, ()):
        if top >= div:
            return div, name
    return 1.0, unit


def cost_column(cost_unit: str) -> str:
    """Name of the cost column: ``cost_mj`` (joules), ``cost_usd`` ($), ``cost_s``."""
    return f"cost_{cost_display(cost_unit)[2]}"


def seed_metrics(
    summary: Summary, alpha: float, models: Sequence[str], cost_unit: str = "J"
) -> dict[str, np.ndarray]:
    """Per-seed metrics ``[S]`` (see the module docstring) of a summary with leading axis S."""
    n = np.maximum(np.asarray(summary.num_requests, np.float64), 1.0)
    satisfaction = np.asarray(summary.satisfaction, np.float64)
    served = np.asarray(summary.served_counts, np.float64)
    out = {
        "cost": np.asarray(summary.total_cost, np.float64) * cost_display(cost_unit)[0],
        "satisfaction": satisfaction,
        "sla_met": satisfaction >= alpha - SLA_TOL,
        "cumulative_violation": np.asarray(summary.cumulative_violation, np.float64),
        "final_queue": np.asarray(summary.final_queue, np.float64),
        "explore_share": np.asarray(summary.explore_count, np.float64) / n,
        "num_requests": np.asarray(summary.num_requests),
    }
    for m, name in enumerate(models):
        out[f"share_{name}"] = served[..., m] / n
    return out


def aggregate(per_seed: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean over seeds of every metric, plus ``<metric>_std`` for cost and satisfaction and
    ``sla_met_seeds`` (share of seeds meeting the SLA). ``sla_met`` is judged on the mean
    satisfaction."""
    out: dict[str, float] = {}
    for k, v in per_seed.items():
        out[k] = float(np.mean(np.asarray(v, np.float64)))
    for k in ("cost", "satisfaction", "cumulative_violation"):
        out[f"{k}_std"] = float(np.std(np.asarray(per_seed[k], np.float64)))
    out["sla_met_seeds"] = out.pop("sla_met")
    return out


def method_row(
    result: Any, models: Sequence[str], cost_unit: str = "J", **fixed: Any
) -> dict[str, Any]:
    """One table row for a :class:`messjax.baselines.MethodResult`: ``fixed`` columns, then
    method, alpha, cost (named by :func:`cost_column`), satisfaction, sla_met, seeds, spreads,
    shares, explore share, the hindsight flag and method extras (threshold, expectation)."""
    agg = aggregate(seed_metrics(result.summary, result.alpha, models, cost_unit))
    col = cost_column(cost_unit)
    scale = cost_display(cost_unit)[0]
    row: dict[str, Any] = dict(fixed)
    row.update(
        method=result.name,
        alpha=float(result.alpha),
        **{col: agg["cost"]},
        satisfaction=agg["satisfaction"],
        sla_met=bool(agg["satisfaction"] >= result.alpha - SLA_TOL),
        seeds=len(result.seeds),
        cost_std=agg["cost_std"],
        satisfaction_std=agg["satisfaction_std"],
        sla_met_seeds=agg["sla_met_seeds"],
        cumulative_violation=agg["cumulative_violation"],
        final_queue=agg["final_queue"],
        num_requests=int(agg["num_requests"]),
    )
    for name in models:
        row[f"share_{name}"] = agg[f"share_{name}"]
    row["explore_share"] = agg["explore_share"]
    row["hindsight"] = bool(result.hindsight)
    info = result.info
    row["threshold"] = float(np.mean(info["threshold"])) if "threshold" in info else np.nan
    row[f"expected_{col}"] = info["expected_cost"] * scale if "expected_cost" in info else np.nan
    row["expected_satisfaction"] = info.get("expected_satisfaction", np.nan)
    return row


def add_relative_costs(
    rows: list[dict[str, Any]],
    cost_unit: str = "J",
    group: str = "task",
    messplus: str = "messplus",
    oracle: str = "oracle",
) -> list[dict[str, Any]]:
    """Add ``cost_vs_messplus`` and ``cost_vs_oracle`` (cost / reference cost of the same
    ``group``, NaN when the reference is missing or zero) to every row, in place."""
    col = cost_column(cost_unit)
    ref = {(r[group], r["method"]): r[col] for r in rows}
    for r in rows:
        for name, method in (("cost_vs_messplus", messplus), ("cost_vs_oracle", oracle)):
            base = ref.get((r[group], method), np.nan)
            r[name] = float(r[col] / base) if base and np.isfinite(base) else np.nan
    return rows
