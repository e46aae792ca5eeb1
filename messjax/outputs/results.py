"""Where a sweep's results go: ``summary.csv``, ``traces.npz`` and one Weights & Biases run.

Files of an output folder ``OUT``:

- ``summary.csv``: one row per cell: ``zoo, task, method, featurizer, head, seed``, the
  hyperparameters (``alpha, V, c, learning_rate, epochs, feedback_rate, cost_estimator,
  inference_cost, training_cost``), then ``num_requests, total_cost, cost_unit,
  satisfaction, sla_met, explore_count, cumulative_violation, max_queue, final_queue,
  final_ideal_queue``, ``share_<model>`` (share of requests served by the model) and
  ``queried_<model>`` (requests the model ran, explorations included). Floats are written as
  the shortest decimal that reads back to the same float32.
- ``traces.npz``: running totals every ``trace_every`` requests: ``<task>/<field>`` arrays
  ``[cells, points]`` (``[cells, points, M]`` for ``served_counts`` / ``query_counts``) with
  the fields of :class:`~messjax.core.episode.Totals` (cumulative: ``num_requests,
  total_cost, satisfied, explore_count, feedback_count, served_counts, query_counts,
  cumulative_violation, max_queue, virtual_queue, ideal_queue``); ``<task>/row``: the
  ``summary.csv`` data row (0-based) of each cell; ``<task>/models``; ``trace_every``;
  ``cost_unit``.
- ``wandb/offline-run-*``: the run (offline mode); ``wandb sync OUT/wandb/offline-run-*``
  uploads it.
"""

from __future__ import annotations

import csv
import io
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from messjax.core.types import HPARAM_NAMES
from messjax.errors import MessjaxError
from messjax.fileio import atomic_savez, atomic_write_text

SUMMARY_CSV = "summary.csv"
TRACES_NPZ = "traces.npz"
#: Columns read back as integers / booleans / strings (everything else numeric is float).
INT_COLUMNS = ("seed", "epochs", "num_requests", "explore_count")
STR_COLUMNS = ("zoo", "task", "method", "featurizer", "head", "cost_estimator", "cost_unit")
#: Points per cell in the wandb curves table.
WANDB_CURVE_POINTS = 50


# ------------------------------------------------------------------------- summary.csv
def _cell(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        return str(np.float32(v))
    return str(v)


def format_summary_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([_cell(row[c]) for c in columns])
    return buf.getvalue()


def write_summary_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``summary.csv`` atomically (temporary file + rename)."""
    return atomic_write_text(path, format_summary_csv(rows))


def _parse(column: str, value: str) -> Any:
    if column in STR_COLUMNS:
        return value
    if value in ("true", "false"):
        return value == "true"
    if column in INT_COLUMNS or column.startswith("queried_"):
        return int(value)
    try:
        return float(value)
    except ValueError:
        return value


def read_summary_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a ``summary.csv`` with numbers and booleans parsed."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = []
            for row in reader:
                if None in row or None in row.values():
                    raise ValueError(f"line {reader.line_num} has a different number of cells")
                rows.append({k: _parse(k, v) for k, v in row.items()})
            return rows
    except (ValueError, UnicodeDecodeError, csv.Error) as e:
        raise MessjaxError(f"{path} is unreadable ({e}): rerun the command that wrote it") from None


# ------------------------------------------------------------------------- traces.npz
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
    import dataclasses

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
    import zipfile

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


# ------------------------------------------------------------------------------- wandb
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


# ------------------------------------------------------------------ reading offline runs
_LOG_HEADER = 7  # ":W&B" + magic (2 bytes) + version (1 byte)
_BLOCK = 32768


def read_offline_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Config, summary and logged keys of an offline run folder (``.../offline-run-*``).

    Reads the run's ``.wandb`` record log (LevelDB log framing of protobuf ``Record``s) with
    wandb's own protobuf classes; for checks and quick looks without syncing.
    """
    import json

    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = Path(run_dir).glob("*.wandb")
    data = path.read_bytes()
    records, buf, pos = [], b"", _LOG_HEADER
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        if kind == 0 and length == 0:
            break
        buf += data[pos : pos + length]
        pos += length
        if kind in (1, 4):  # FULL or LAST
            rec = pb.Record()
            rec.ParseFromString(buf)
            records.append(rec)
            buf = b""
    out: dict[str, Any] = {"config": {}, "summary": {}, "history_keys": set(), "run": {}}

    def key_of(item):
        return item.key or "/".join(item.nested_key)

    for rec in records:
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["run"] = {
                "project": rec.run.project,
                "group": rec.run.run_group,
                "job_type": rec.run.job_type,
                "run_id": rec.run.run_id,
            }
            for item in rec.run.config.update:
                out["config"][key_of(item)] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                out["config"][key_of(item)] = json.loads(item.value_json)
        elif kind == "summary":
            for item in rec.summary.update:
                out["summary"][key_of(item)] = json.loads(item.value_json)
        elif kind == "history":
            out["history_keys"].update(key_of(item) for item in rec.history.item)
    return out


# ------------------------------------------------------------------------ text tables
def normalize_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows exactly as ``summary.csv`` reads back (float32 values as their shortest decimal)."""
    text = format_summary_csv(rows)
    return [{k: _parse(k, v) for k, v in r.items()} for r in csv.DictReader(io.StringIO(text))]


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
    from messjax.outputs.figures import cost_scale

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
