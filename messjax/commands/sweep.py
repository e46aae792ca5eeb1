"""``messjax sweep --config FILE --out DIR``: run a config's grid, resumably, and write its results.

Writes ``DIR/summary.csv`` (one row per cell), ``DIR/config.yaml`` (the resolved config),
``DIR/traces.npz`` (running totals every ``trace_every`` requests), ``DIR/figures/*.png``,
``DIR/checkpoints/`` (Orbax, one per finished chunk: a rerun resumes) and one wandb run under
``DIR/wandb`` (offline unless the config or ``--wandb`` says otherwise).

``DIR`` is claimed first (:func:`messjax.fileio.claim_output_dir`): it must be new, empty, or a
folder messjax made for a sweep, with nothing in it that messjax did not write (``--force``
writes anyway); every file is written atomically and recorded in ``DIR/.messjax.json``, and
``--restart`` deletes exactly the recorded files and folders.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

from messjax.commands._common import add_data_dir, data_dir
from messjax.runs.config import WANDB_MODES, SweepConfig, load_config, load_tables

NAME = "sweep"
HELP = "run the grid of a YAML config (resumable) and write summary.csv, traces and figures"

CHECKPOINTS = "checkpoints"
CONFIG_YAML = "config.yaml"


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--set``, ``--data-dir``, ``--wandb``, ``--restart``, ``--no-progress``."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key; VALUE is YAML (alpha=[0.5,0.6], V=1e-4, "
        "wandb.mode=disabled); repeatable",
    )
    add_data_dir(parser)
    parser.add_argument(
        "--wandb", choices=WANDB_MODES, default=None, help="wandb mode (default: the config's)"
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="delete what messjax wrote in DIR (checkpoints, outputs, figures) first, "
        "instead of resuming from its checkpoints",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into DIR even if it holds files messjax did not write (files of the same "
        "name are overwritten; nothing else is touched)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="YAML sweep config")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_config_arguments(parser)


def overrides(args: argparse.Namespace) -> list[str]:
    extra = [f"wandb.mode={args.wandb}"] if args.wandb else []
    return [*args.set, *extra]


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
    import numpy as np
    from tqdm.auto import tqdm

    from messjax.fileio import claim_output_dir
    from messjax.outputs import results as mlog
    from messjax.runs.checkpoint import (
        SweepCheckpoint,
        chunk_bounds,
        chunked_sweep,
        table_fingerprint,
    )
    from messjax.runs.experiment import summary_rows, table_features

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
    grids = {t: resolved.grid(t) for t in tables}
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
            result, n = chunked_sweep(
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
    rows = mlog.normalize_rows(rows)
    outcome = SweepOutcome(
        config=resolved,
        rows=rows,
        traces=None,
        seconds=0.0,
        feature_seconds=feature_s,
        sweep_seconds=sweep_s,
        chunks_computed=computed,
        chunks_total=total_chunks,
        out_dir=out,
    )
    if out is None:
        outcome.seconds = time.perf_counter() - start
        return outcome

    # OUTPUTS
    from messjax.outputs.figures import draw_figures

    files = [mlog.write_summary_csv(output.file(mlog.SUMMARY_CSV), rows)]
    files.append(output.write_text(CONFIG_YAML, resolved.to_yaml()))
    if traces:
        files.append(
            mlog.save_traces(
                output.file(mlog.TRACES_NPZ),
                traces,
                row_index,
                {t: tables[t].models for t in traces},
                trace_every=resolved.trace_every,
                cost_unit=next(iter(tables.values())).cost_unit,
            )
        )
        outcome.traces = mlog.load_traces(out / mlog.TRACES_NPZ)
    else:
        output.remove(mlog.TRACES_NPZ)
    figures = draw_figures(out, rows, outcome.traces, output=output)
    files += figures
    outcome.seconds = time.perf_counter() - start
    wb = resolved.wandb
    if wb.mode != "disabled":
        output.tree("wandb")
    outcome.wandb_dir = mlog.log_wandb(
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
    return outcome


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


def main(args: argparse.Namespace) -> int:
    from messjax.outputs.results import results_table

    cfg = load_config(args.config, overrides(args))
    outcome = execute(
        cfg,
        args.out,
        data_dir=data_dir(args),
        restart=args.restart,
        progress=not args.no_progress,
        force=args.force,
    )
    print(results_table(outcome.rows))
    print()
    print(report(outcome))
    return 0
