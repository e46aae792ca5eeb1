"""Weights & Biases: one run per sweep, written under ``OUT/wandb``.

``OUT/wandb/offline-run-*`` holds the run (offline mode); ``wandb sync OUT/wandb/offline-run-*``
uploads it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Points per cell in the wandb curves table.
WANDB_CURVE_POINTS = 50


def _group_mean_curves(rows, task_traces, field_fn, seeds_axis=True):
    """Per (alpha, V, c, ...) setting of one task: the curve averaged over seeds."""
    by_setting: dict[tuple, list[np.ndarray]] = {}
    for i, r in enumerate(task_traces["row"]):
        row = rows[int(r)]
        key = (row["alpha"], row["V"], row["c"])
        by_setting.setdefault(key, []).append(field_fn(task_traces, i))
    return {k: np.mean(v, axis=0) for k, v in by_setting.items()}


def _decimate(n: int, points: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(points, n)).round().astype(int))


def log_wandb(
    out_dir: str | os.PathLike,
    config: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    traces: Mapping[str, Any] | None,
    *,
    mode: str = "offline",
    project: str = "messjax",
    group: str | None = None,
    job_type: str = "sweep",
    tags: Sequence[str] = (),
    name: str | None = None,
    figures: Sequence[str | os.PathLike] = (),
    summary: Mapping[str, Any] | None = None,
) -> Path | None:
    """One wandb run for a whole sweep, in ``out_dir/wandb``. Returns the run folder.

    Logs the config, ``cells`` (a table of every summary.csv row), ``curves`` (per cell,
    at most :data:`WANDB_CURVE_POINTS` trace points: satisfaction, virtual queue, cost per
    request and model shares so far), per task line charts of the seed-averaged satisfaction
    and queue curves, the figures, and ``summary`` into the run summary. Nothing is logged per
    request. ``mode="disabled"`` does nothing. The wandb service is shut down before return.
    """
    if mode == "disabled":
        return None
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    import wandb

    out_dir = Path(out_dir).absolute()
    settings = wandb.Settings(silent=True, console="off", x_disable_stats=True, save_code=False)
    run = wandb.init(
        project=project,
        group=group,
        job_type=job_type,
        tags=list(tags),
        name=name,
        dir=str(out_dir),
        mode=mode,
        config=dict(config),
        settings=settings,
        reinit="create_new",
    )
    try:
        columns = list(rows[0]) if rows else []
        cells = wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in rows])
        payload: dict[str, Any] = {"cells": cells}
        if traces:
            payload.update(_wandb_curves(wandb, rows, traces))
        for fig in figures:
            payload[f"figures/{Path(fig).stem}"] = wandb.Image(str(fig))
        run.log(payload)
        run.summary.update(dict(summary or {}))
        run_dir = Path(run.dir).parent
    finally:
        run.finish()
    wandb.teardown()  # stop the wandb-core service process this call started
    return run_dir


def _wandb_curves(wandb, rows, traces) -> dict[str, Any]:
    out: dict[str, Any] = {}
    curve_rows = []
    header = None
    for task, tr in traces["tasks"].items():
        models = [str(m) for m in tr["models"]]
        n = np.maximum(tr["num_requests"], 1)
        sat = tr["satisfied"] / n
        avg_cost = tr["total_cost"] / n
        shares = tr["served_counts"] / n[..., None]
        idx = _decimate(n.shape[1], WANDB_CURVE_POINTS)
        header = [
            "task",
            "row",
            "seed",
            "alpha",
            "V",
            "c",
            "request",
            "satisfaction",
            "virtual_queue",
            "cost_per_request",
            *[f"share_{m}" for m in models],
        ]
        for i, r in enumerate(tr["row"]):
            row = rows[int(r)]
            for j in idx:
                curve_rows.append(
                    [
                        task,
                        int(r),
                        row["seed"],
                        row["alpha"],
                        row["V"],
                        row["c"],
                        int(tr["num_requests"][i, j]),
                        float(sat[i, j]),
                        float(tr["virtual_queue"][i, j]),
                        float(avg_cost[i, j]),
                        *[float(s) for s in shares[i, j]],
                    ]
                )
        xs = [int(v) for v in np.mean(tr["num_requests"], axis=0)[idx]]
        for field, title in (("satisfaction", "satisfaction"), ("virtual_queue", "virtual queue")):
            curves = _group_mean_curves(
                rows,
                tr,
                (lambda t, i: t["satisfied"][i] / np.maximum(t["num_requests"][i], 1))
                if field == "satisfaction"
                else (lambda t, i: t["virtual_queue"][i]),
            )
            keys = sorted(curves)
            out[f"{field}/{task}"] = wandb.plot.line_series(
                xs=xs,
                ys=[[float(v) for v in curves[k][idx]] for k in keys],
                keys=[f"alpha={a:g} V={v:g} c={c:g}" for a, v, c in keys],
                title=f"{task}: {title} (mean over seeds)",
                xname="request",
            )
    if header is not None:
        out["curves"] = wandb.Table(columns=header, data=curve_rows)
    return out
