"""Figures of a sweep, drawn from ``summary.csv`` and ``traces.npz`` alone (``messjax plot``).

Per task, in ``OUT/figures``:

- ``satisfaction_<task>.png``: share of satisfied requests so far against the request number,
  one panel per alpha (dashed: the SLA target), one line per V;
- ``queue_<task>.png``: the virtual queue Q over the stream, same layout;
- ``shares_<task>.png``: share of requests served by each model so far, one panel per alpha
  (at the reference V);
- ``cost_vs_alpha_<task>.png``: total cost and final satisfaction against alpha, one line per V
  (mean and standard deviation over seeds).

Curves are means over seeds at the reference c (0.1 if swept, else the middle value) and
reference V (1e-4 if swept, else the middle value); axes other than alpha, V and c are held
at their first value. Matplotlib's Agg canvas is used directly (no pyplot, no display).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from messjax import paper
from messjax.core.names import HPARAM_NAMES
from messjax.fileio import atomic_savefig, safe_filename
from messjax.metrics import COST_QUANTITY, cost_scale
from messjax.outputs.rows import SUMMARY_CSV, read_summary_csv
from messjax.outputs.traces import TRACES_NPZ, load_traces

FIGURES = "figures"
#: Axes other than alpha, V and c that may vary in a sweep.
OTHER_AXES = tuple(k for k in HPARAM_NAMES if k not in ("alpha", "V", "c"))


def _ref(values: Sequence[float], preferred: float) -> float:
    vals = sorted(set(values))
    for v in vals:
        if np.isclose(v, preferred, rtol=1e-4):
            return v
    return vals[len(vals) // 2]


def _fmt(v: float) -> str:
    return f"{v:g}"


class _TaskView:
    """The rows of one task of a sweep, with the reference settings chosen."""

    def __init__(self, task: str, rows: list[dict[str, Any]], indices: list[int]):
        self.task, self.indices = task, indices
        self.rows = [rows[i] for i in indices]
        first = self.rows[0]
        self.fixed = {
            k: sorted({r[k] for r in self.rows}, key=str)[0] for k in OTHER_AXES if k in first
        }
        keep = [all(r.get(k) == v for k, v in self.fixed.items()) for r in self.rows]
        self.kept = {i for i, ok in zip(indices, keep, strict=True) if ok}
        self.alphas = sorted({rows[i]["alpha"] for i in self.kept})
        self.Vs = sorted({rows[i]["V"] for i in self.kept})
        self.cs = sorted({rows[i]["c"] for i in self.kept})
        self.c_ref = _ref(self.cs, paper.PAPER_C)
        self.V_ref = _ref(self.Vs, paper.PAPER_V)
        self.seeds = sorted({rows[i]["seed"] for i in self.kept})
        self.zoo = first.get("zoo", "")
        self.unit = first.get("cost_unit", "")
        self.models = [k[len("share_") :] for k in first if k.startswith("share_")]
        self.all_rows = rows
        varying = [k for k in OTHER_AXES if len({str(r.get(k)) for r in self.rows}) > 1]
        self.note = ", ".join(f"{k} = {self.fixed[k]}" for k in varying)

    def select(self, alpha=None, V=None, c=None) -> list[int]:
        out = []
        for i in sorted(self.kept):
            r = self.all_rows[i]
            if alpha is not None and r["alpha"] != alpha:
                continue
            if V is not None and r["V"] != V:
                continue
            if c is not None and r["c"] != c:
                continue
            out.append(i)
        return out

    def title(self, what: str, extra: str = "") -> str:
        bits = [f"{self.zoo} / {self.task}: {what}"]
        detail = [extra] if extra else []
        detail.append(f"mean over {len(self.seeds)} seed{'s' if len(self.seeds) > 1 else ''}")
        if self.note:
            detail.append(self.note)
        return bits[0] + "\n(" + ", ".join(detail) + ")"


def _figure(ncols: int, nrows: int = 1, width: float = 4.2, height: float = 3.4):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(width * ncols, 6.0), height * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _curves(tr: Mapping[str, np.ndarray], row_pos: Mapping[int, int], rows: list[int], fn):
    """Mean over ``rows`` (csv row indices) of ``fn(trace, cell)``, and the x axis."""
    cells = [row_pos[r] for r in rows if r in row_pos]
    if not cells:
        return None, None
    ys = np.mean([fn(tr, i) for i in cells], axis=0)
    xs = np.mean([tr["num_requests"][i] for i in cells], axis=0)
    return xs, ys


def _satisfaction(tr, i):
    return tr["satisfied"][i] / np.maximum(tr["num_requests"][i], 1)


def _queue(tr, i):
    return tr["virtual_queue"][i]


def _trace_figure(view: _TaskView, tr, row_pos, fn, ylabel: str, what: str, sla: bool):
    fig, axes = _figure(len(view.alphas))
    for ax, alpha in zip(axes[0], view.alphas, strict=True):
        for V in view.Vs:
            xs, ys = _curves(tr, row_pos, view.select(alpha, V, view.c_ref), fn)
            if xs is not None:
                ax.plot(xs, ys, label=f"V = {_fmt(V)}", lw=1.4)
        if sla:
            ax.axhline(alpha, color="k", ls="--", lw=1, label="SLA target α")
        ax.set_title(f"α = {_fmt(alpha)}")
        ax.set_xlabel("requests processed")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    fig.suptitle(view.title(what, f"c = {_fmt(view.c_ref)}"))
    return fig


def _shares_figure(view: _TaskView, tr, row_pos):
    fig, axes = _figure(len(view.alphas))
    models = [str(m) for m in tr["models"]]
    for ax, alpha in zip(axes[0], view.alphas, strict=True):
        xs, ys = _curves(
            tr,
            row_pos,
            view.select(alpha, view.V_ref, view.c_ref),
            lambda t, i: t["served_counts"][i] / np.maximum(t["num_requests"][i], 1)[:, None],
        )
        if xs is None:
            continue
        ax.stackplot(xs, ys.T * 100, labels=models, alpha=0.85)
        ax.set_ylim(0, 100)
        ax.set_xlim(xs[0], xs[-1])
        ax.set_title(f"α = {_fmt(alpha)}")
        ax.set_xlabel("requests processed")
        ax.set_ylabel("requests served by model so far (%)")
    fig.legend(
        *axes[0, 0].get_legend_handles_labels(),
        loc="outside right upper",
        fontsize="small",
        title="model\n(cheapest first)",
    )
    fig.suptitle(view.title("model-call shares", f"V = {_fmt(view.V_ref)}, c = {_fmt(view.c_ref)}"))
    return fig


def _cost_figure(view: _TaskView):
    fig, axes = _figure(2, width=5.0)
    ax_cost, ax_sat = axes[0]
    costs = [view.all_rows[i]["total_cost"] for i in view.kept]
    div, unit = cost_scale(costs, view.unit)
    for V in view.Vs:
        mc, sc, ms, ss = [], [], [], []
        for alpha in view.alphas:
            sel = view.select(alpha, V, view.c_ref)
            cost = np.array([view.all_rows[i]["total_cost"] for i in sel]) / div
            sat = np.array([view.all_rows[i]["satisfaction"] for i in sel]) * 100
            mc.append(cost.mean())
            sc.append(cost.std())
            ms.append(sat.mean())
            ss.append(sat.std())
        ax_cost.errorbar(view.alphas, mc, yerr=sc, marker="o", capsize=3, label=f"V = {_fmt(V)}")
        ax_sat.errorbar(view.alphas, ms, yerr=ss, marker="o", capsize=3, label=f"V = {_fmt(V)}")
    lo, hi = min(view.alphas), max(view.alphas)
    ax_sat.plot([lo, hi], [lo * 100, hi * 100], "k--", lw=1, label="SLA target (= α)")
    kind = COST_QUANTITY.get(view.unit, "cost")
    ax_cost.set_ylabel(f"total {kind} over the stream ({unit})")
    ax_sat.set_ylabel("satisfied requests (%)")
    for ax, t in ((ax_cost, "total cost"), (ax_sat, "final satisfaction")):
        ax.set_xlabel("SLA target α")
        ax.set_xticks(view.alphas)
        ax.set_title(t)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(view.title("cost and satisfaction against α", f"c = {_fmt(view.c_ref)}"))
    return fig


def draw_figures(
    out_dir: str | os.PathLike,
    rows: list[dict[str, Any]] | None = None,
    traces: dict[str, Any] | None = None,
    output=None,
) -> list[Path]:
    """Write the figures of the sweep in ``out_dir`` to ``out_dir/figures``; returns the paths.

    ``rows`` / ``traces`` default to ``summary.csv`` / ``traces.npz`` of ``out_dir``. Each
    figure is written atomically; with ``output`` (the :class:`~messjax.fileio.OutputDir` of
    ``out_dir``) it is also recorded in the folder's marker.
    """
    out = Path(out_dir)
    if rows is None:
        rows = read_summary_csv(out / SUMMARY_CSV)
    if traces is None and (out / TRACES_NPZ).is_file():
        traces = load_traces(out / TRACES_NPZ)
    fig_dir = out / FIGURES
    if output is None:
        fig_dir.mkdir(parents=True, exist_ok=True)
    by_task: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_task.setdefault(r["task"], []).append(i)
    written = []

    def save(fig, name):
        if output is not None:
            path = output.savefig(fig, f"{FIGURES}/{name}", dpi=110)
        else:
            path = atomic_savefig(fig, fig_dir / name, dpi=110)
        written.append(path)

    for task, indices in by_task.items():
        view = _TaskView(task, rows, indices)
        save(_cost_figure(view), f"cost_vs_alpha_{safe_filename(task)}.png")
        tr = (traces or {}).get("tasks", {}).get(task)
        if tr is None:
            continue
        row_pos = {int(r): i for i, r in enumerate(tr["row"])}
        save(
            _trace_figure(
                view,
                tr,
                row_pos,
                _satisfaction,
                "share of satisfied requests so far",
                "satisfaction over the stream",
                sla=True,
            ),
            f"satisfaction_{safe_filename(task)}.png",
        )
        save(
            _trace_figure(
                view,
                tr,
                row_pos,
                _queue,
                "virtual queue Q",
                "virtual queue over the stream",
                sla=False,
            ),
            f"queue_{safe_filename(task)}.png",
        )
        save(_shares_figure(view, tr, row_pos), f"shares_{safe_filename(task)}.png")
    return written
