"""Text tables of a sweep's rows, as ``messjax run`` and ``messjax sweep`` print them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from messjax.core.names import HPARAM_NAMES
from messjax.metrics import cost_scale


def _aligned(table: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in table]


def _mean_std(a: np.ndarray) -> str:
    """``mean ± std`` with three significant digits on the mean, as many decimals on both."""
    m, sd = float(np.mean(a)), float(np.std(a))
    digits = 0 if m == 0 else max(0, 2 - int(np.floor(np.log10(abs(m)))))
    return f"{m:.{digits}f} ± {sd:.{digits}f}"


def results_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A compact text table per task: per setting (seeds pooled) the total cost, satisfaction
    (mean ± std over seeds), how many seeds met the SLA and the share of calls per model."""
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_task.setdefault(r["task"], []).append(r)
    axes = HPARAM_NAMES
    blocks = []
    for task, trs in by_task.items():
        varying = [a for a in axes if a in trs[0] and len({str(r[a]) for r in trs}) > 1]
        varying = varying or ["alpha"]
        groups: dict[tuple, list[Mapping[str, Any]]] = {}
        for r in trs:
            groups.setdefault(tuple(r[a] for a in varying), []).append(r)
        models = [k[len("share_") :] for k in trs[0] if k.startswith("share_")]
        div, unit = cost_scale([r["total_cost"] for r in trs], trs[0]["cost_unit"])
        seeds = len({r["seed"] for r in trs})
        head = [
            *varying,
            f"cost ({unit})",
            "satisfaction (%)",
            "SLA met",
            f"calls % ({'/'.join(models)})",
        ]
        lines = []
        for key, grp in groups.items():
            cost = np.array([r["total_cost"] for r in grp]) / div
            sat = np.array([r["satisfaction"] for r in grp]) * 100
            met = sum(bool(r["sla_met"]) for r in grp)
            shares = [np.mean([r[f"share_{m}"] for r in grp]) * 100 for m in models]
            lines.append(
                [
                    *[f"{v:g}" if isinstance(v, float) else str(v) for v in key],
                    _mean_std(cost),
                    f"{sat.mean():.1f} ± {sat.std():.1f}",
                    f"{met}/{len(grp)}",
                    "/".join(f"{s:.0f}" for s in shares),
                ]
            )
        n = trs[0]["num_requests"]
        title = (
            f"{trs[0]['zoo']} / {task}: {n} requests, {len(trs)} cells; mean ± std over "
            f"{seeds} seed{'s' if seeds > 1 else ''}"
        )
        blocks.append("\n".join([title, *_aligned([head, *lines])]))
    return "\n\n".join(blocks)


#: Above this many models, or with model names longer than this, the calls column numbers
#: the models and a legend names them.
_FEW_MODELS, _SHORT_NAME = 4, 12


def readable_results_table(
    rows: Sequence[Mapping[str, Any]], models: Sequence[str] | None = None
) -> str:
    """:func:`results_table`, readable for big zoos: with many or long model names the
    per-model call shares are headed by numbers (cheapest first) and a legend lists the models
    once."""
    if not rows:
        return ""
    models = list(models or [k[len("share_") :] for k in rows[0] if k.startswith("share_")])
    if len(models) <= _FEW_MODELS and all(len(m) <= _SHORT_NAME for m in models):
        return results_table(rows)
    renamed = []
    for r in rows:
        r2 = {k: v for k, v in r.items() if not k.startswith("share_")}
        r2.update({f"share_{k + 1}": r[f"share_{m}"] for k, m in enumerate(models)})
        renamed.append(r2)
    legend = ["models (cheapest first; numbers in the calls column):"]
    legend += [f"  {k + 1:>2}  {m}" for k, m in enumerate(models)]
    return "\n".join(legend) + "\n\n" + results_table(renamed)
