"""A config's sweep, end to end: config -> tables + features -> grids -> chunks -> outputs.

:func:`execute` is what ``messjax sweep`` and ``messjax run`` call. With an output folder
``DIR`` it writes ``DIR/summary.csv`` (one row per cell), ``DIR/config.yaml`` (the resolved
config), ``DIR/traces.npz`` (running totals every ``trace_every`` requests),
``DIR/figures/*.png``, ``DIR/checkpoints/`` (Orbax, one per finished chunk: a rerun resumes)
and one wandb run under ``DIR/wandb`` (offline unless the config says otherwise).

``DIR`` is claimed first (:func:`messjax.fileio.claim_output_dir`): it must be new, empty, or a
folder messjax made for a sweep, with nothing in it that messjax did not write (``force``
writes anyway); every file is written atomically and recorded in ``DIR/.messjax.json``, and
``restart`` deletes exactly the recorded files and folders.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from messjax import paper
from messjax.core.sweep import Grid, SweepResult, chunk_bounds, concat_cells, make_grid
from messjax.errors import ConfigError, MessjaxError
from messjax.fileio import claim_output_dir
from messjax.outputs.figures import draw_figures
from messjax.outputs.rows import SUMMARY_CSV, normalize_rows, write_summary_csv
from messjax.outputs.traces import TRACES_NPZ, load_traces, save_traces
from messjax.outputs.tracking import log_wandb
from messjax.runs.checkpoint import SweepCheckpoint, table_fingerprint
from messjax.runs.config import (
    SYNTHETIC,
    SweepConfig,
    apply_overrides,
    config_from_dict,
    default_config,
    unknown_choice,
)
from messjax.runs.experiment import summary_rows, sweep_table, table_features
from messjax.yamlfile import read_yaml

CHECKPOINTS = "checkpoints"
CONFIG_YAML = "config.yaml"


# ------------------------------------------------------------------- config -> tables, grids
def run_config(
    path: str | os.PathLike | None = None,
    *,
    zoo: str | None = None,
    tasks: Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
    missing: str | None = None,
    prices: Mapping[str, float] | None = None,
    overrides: Sequence[str] = (),
) -> SweepConfig:
    """The config of ``messjax run``: ``path`` (default: the embedded default config) with
    ``zoo`` (a real zoo drops the synthetic-only data settings and runs the paper's 8 tasks, or
    every task of the user's own logs), ``tasks``, the log options and ``overrides``; without
    ``out`` nothing is logged to wandb."""
    raw = default_config() if path is None else read_yaml(path)
    if zoo is not None:
        raw["zoo"] = zoo
        if zoo != SYNTHETIC:
            # Synthetic-only settings of the default config do not carry over to real logs.
            data = dict(raw.get("data") or {})
            data.pop("preset", None)
            data.pop("seed", None)
            data["num_requests"] = None
            raw["data"] = data
            if tasks is None:
                from messjax.data.loaders import ZOOS

                raw.pop("task", None)
                # the paper's 8 tasks for its zoos; every task of the user's own logs
                raw["tasks"] = list(paper.PAPER_TASKS) if zoo in ZOOS else []
    if tasks is not None:
        raw.pop("task", None)
        raw["tasks"] = list(tasks)
    if out is None:
        raw["wandb"] = {**(raw.get("wandb") or {}), "mode": "disabled"}
    if missing or prices:
        data = dict(raw.get("data") or {})
        if missing:
            data["missing"] = missing
        if prices:
            data["prices"] = dict(prices)
        raw["data"] = data
    return config_from_dict(apply_overrides(raw, overrides))


def load_tables(cfg: SweepConfig, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """task -> :class:`~messjax.data.RoutingTable` of each task of the config, in order."""
    from messjax.data import load_zoo, synthetic_zoo

    if cfg.is_synthetic:
        from messjax.data.synthetic import SYNTHETIC_PRESETS

        tasks = cfg.tasks or SYNTHETIC_PRESETS[cfg.data.preset].tasks
        return {
            t: synthetic_zoo(
                cfg.data.preset, tasks=[t], num_requests=cfg.data.num_requests, seed=cfg.data.seed
            )
            for t in tasks
        }
    zoo = load_zoo(
        cfg.zoo,
        data_dir=data_dir,
        cost=cfg.data.cost,
        missing=cfg.data.missing,
        prices=dict(cfg.data.prices) or None,
    )
    known = zoo.task_names
    tasks = cfg.tasks or known
    out = {}
    for t in tasks:
        if t not in known:
            raise ConfigError("tasks", unknown_choice(f"task of zoo {cfg.zoo!r}:", t, known))
        table = zoo.select_task(t)
        if cfg.data.num_requests is not None and cfg.data.num_requests < table.num_requests:
            table = table.take(range(cfg.data.num_requests))
        out[t] = table
    return out


def task_grid(cfg: SweepConfig, task: str) -> Grid:
    """The Cartesian grid of ``task`` (seeds outermost, then the axes in
    :data:`~messjax.runs.config.AXES` order) with the task's paper defaults filled in."""
    axes = {k: list(v) for k, v in cfg.axes_for(task).items()}
    return make_grid(list(cfg.seeds), **axes)


# ------------------------------------------------------------------------ chunks -> results
def sweep_chunks(
    table,
    grid: Grid,
    *,
    x: np.ndarray,
    chunk_size: int | None = None,
    checkpoint: SweepCheckpoint | None = None,
    task: str | None = None,
    progress: Callable[[int], None] | None = None,
    **sweep_kw: Any,
) -> tuple[SweepResult, int]:
    """:func:`~messjax.runs.experiment.sweep_table` over ``grid`` one chunk at a time.

    Chunks already in ``checkpoint`` (under ``task``) are loaded, the others computed and
    saved. ``progress(n)`` is called with the number of cells of each finished chunk.
    Returns ``(SweepResult, number of chunks computed)``.
    """
    task = task if task is not None else table.name
    parts, computed = [], 0
    for i, (lo, hi) in enumerate(chunk_bounds(grid.size, chunk_size)):
        part = checkpoint.load(task, i) if checkpoint is not None else None
        if part is None:
            res = sweep_table(table, grid.take(np.arange(lo, hi)), x=x, **sweep_kw)
            part = (res.summary, res.trace)
            if checkpoint is not None:
                checkpoint.save(task, i, *part)
            computed += 1
        parts.append(part)
        if progress is not None:
            progress(hi - lo)
    summary, trace = concat_cells(parts)
    trace_every = int(sweep_kw.get("trace_every", 0))
    return SweepResult(grid=grid, summary=summary, trace=trace, trace_every=trace_every), computed


# --------------------------------------------------------------------------------- the sweep
@dataclasses.dataclass
class SweepOutcome:
    """What :func:`execute` did: the resolved config, the rows of summary.csv, timings."""

    config: SweepConfig
    rows: list[dict[str, Any]]
    traces: dict[str, Any] | None
    seconds: float
    feature_seconds: float
    sweep_seconds: float
    chunks_computed: int
    chunks_total: int
    out_dir: Path | None = None
    wandb_dir: Path | None = None
    files: list[Path] = dataclasses.field(default_factory=list)


def execute(
    cfg: SweepConfig,
    out_dir: str | os.PathLike | None,
    *,
    data_dir: str | os.PathLike | None = None,
    restart: bool = False,
    progress: bool = True,
    force: bool = False,
) -> SweepOutcome:
    """Run every task's grid of ``cfg``; with ``out_dir`` checkpoint, write files and log.

    Without ``out_dir`` nothing is written (no checkpoints, no wandb). ``out_dir`` is
    claimed with :func:`messjax.fileio.claim_output_dir` (``force``, ``restart``).
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    tables = load_tables(cfg, data_dir)
    resolved = cfg.resolve(list(tables))
    out = Path(out_dir) if out_dir is not None else None
    ckpt = output = None
    if out is not None:
        output = claim_output_dir(out, "sweep", force=force, restart=restart)
        identity = {
            "config": {k: v for k, v in resolved.to_dict().items() if k != "wandb"},
            "tables": {t: table_fingerprint(tb) for t, tb in tables.items()},
        }
        ckpt = SweepCheckpoint(output.tree(CHECKPOINTS), identity)

    rows: list[dict[str, Any]] = []
    traces: dict[str, Any] = {}
    row_index: dict[str, np.ndarray] = {}
    feature_s = sweep_s = 0.0
    computed = total_chunks = 0
    grids = {t: task_grid(resolved, t) for t in tables}
    bar = tqdm(
        total=sum(g.size for g in grids.values()),
        unit="cell",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        for task, table in tables.items():
            bar.set_description(task)
            t0 = time.perf_counter()
            x = table_features(table, resolved.featurizer, progress=progress)
            t1 = time.perf_counter()
            result, n = sweep_chunks(
                table,
                grids[task],
                x=x,
                chunk_size=resolved.chunk_size,
                checkpoint=ckpt,
                task=task,
                progress=bar.update,
                head=resolved.head,
                method=resolved.method,
                trace_every=resolved.trace_every or 0,
                **resolved.engine_options(),
            )
            feature_s += t1 - t0
            sweep_s += time.perf_counter() - t1
            computed += n
            total_chunks += len(chunk_bounds(grids[task].size, resolved.chunk_size))
            row_index[task] = np.arange(len(rows), len(rows) + grids[task].size)
            rows += summary_rows(
                result,
                table,
                zoo=resolved.zoo,
                task=task,
                method=resolved.method,
                featurizer=resolved.featurizer,
                head=resolved.head,
            )
            if result.trace is not None:
                traces[task] = result.trace
    finally:
        bar.close()
        if ckpt is not None:
            ckpt.close()
    outcome = SweepOutcome(
        config=resolved,
        rows=normalize_rows(rows),
        traces=None,
        seconds=0.0,
        feature_seconds=feature_s,
        sweep_seconds=sweep_s,
        chunks_computed=computed,
        chunks_total=total_chunks,
        out_dir=out,
    )
    if output is not None:
        models = {t: tables[t].models for t in traces}
        cost_unit = next(iter(tables.values())).cost_unit
        _write_outputs(outcome, output, traces, row_index, models, cost_unit, start)
    else:
        outcome.seconds = time.perf_counter() - start
    return outcome


def _write_outputs(outcome: SweepOutcome, output, traces, row_index, models, cost_unit, start):
    """summary.csv, config.yaml, traces.npz, the figures and the wandb run of a sweep."""
    out, resolved, rows = outcome.out_dir, outcome.config, outcome.rows
    files = [write_summary_csv(output.file(SUMMARY_CSV), rows)]
    files.append(output.write_text(CONFIG_YAML, resolved.to_yaml()))
    if traces:
        files.append(
            save_traces(
                output.file(TRACES_NPZ),
                traces,
                row_index,
                models,
                trace_every=resolved.trace_every,
                cost_unit=cost_unit,
            )
        )
        outcome.traces = load_traces(out / TRACES_NPZ)
    else:
        output.remove(TRACES_NPZ)
    figures = draw_figures(out, rows, outcome.traces, output=output)
    files += figures
    outcome.seconds = time.perf_counter() - start  # the wandb upload is not counted
    wb = resolved.wandb
    if wb.mode != "disabled":
        output.tree("wandb")
    outcome.wandb_dir = log_wandb(
        out,
        resolved.to_dict(),
        rows,
        outcome.traces,
        mode=wb.mode,
        project=wb.project,
        group=resolved.wandb_group(),
        job_type=wb.job_type,
        tags=wb.tags,
        figures=figures,
        summary=_run_summary(rows, outcome),
    )
    outcome.files = files


def _run_summary(rows: list[dict[str, Any]], outcome: SweepOutcome) -> dict[str, Any]:
    out: dict[str, Any] = {
        "num_cells": len(rows),
        "seconds_sweep": round(outcome.sweep_seconds, 3),
        "seconds_features": round(outcome.feature_seconds, 3),
        "chunks_computed": outcome.chunks_computed,
        "chunks_total": outcome.chunks_total,
    }
    for task in dict.fromkeys(r["task"] for r in rows):
        trs = [r for r in rows if r["task"] == task]
        out[f"{task}/sla_met_share"] = sum(r["sla_met"] for r in trs) / len(trs)
        out[f"{task}/mean_satisfaction"] = sum(r["satisfaction"] for r in trs) / len(trs)
        out[f"{task}/mean_total_cost"] = sum(r["total_cost"] for r in trs) / len(trs)
    return out


def report(outcome: SweepOutcome) -> str:
    """Cells, timings, chunks computed and resumed, and what was written where."""
    resumed = outcome.chunks_total - outcome.chunks_computed
    lines = [
        f"{len(outcome.rows)} cells in {outcome.seconds:.1f} s (features "
        f"{outcome.feature_seconds:.1f} s, sweep {outcome.sweep_seconds:.1f} s; "
        f"{outcome.chunks_computed} chunk(s) computed, {resumed} resumed from checkpoints)"
    ]
    if outcome.out_dir is not None:
        lines.append(
            f"wrote {outcome.out_dir}/: summary.csv, config.yaml, "
            f"{'traces.npz, ' if outcome.traces else ''}figures/, checkpoints/"
        )
    if outcome.wandb_dir is not None:
        lines.append(
            f"wandb run: {outcome.wandb_dir}"
            + (
                f" (upload: wandb sync {outcome.wandb_dir})"
                if outcome.wandb_dir.name.startswith("offline-")
                else ""
            )
        )
    return "\n".join(lines)


def redraw(out_dir: str | os.PathLike, *, force: bool = False) -> list[Path]:
    """Redraw the figures of the sweep folder ``out_dir`` from its summary.csv and traces.npz
    (``messjax plot``); returns the paths written."""
    out = Path(out_dir)
    if not (out / SUMMARY_CSV).is_file():
        raise MessjaxError(f"{out} has no {SUMMARY_CSV}: is it the --out folder of a sweep?")
    output = claim_output_dir(out, "sweep", force=force)
    return draw_figures(out, output=output)
