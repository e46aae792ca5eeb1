"""The method table of ``messjax evaluate`` / ``reproduce``: one row per stream x method.

``table.csv`` (written and read back), ``table.md`` (settings, the rows with the paper's numbers
beside those computed the paper's way, means over tasks), a cost-vs-satisfaction figure per
stream and a compact summary for the terminal.

Paper numbers are printed only beside rows computed the paper's way (:data:`PAPER_METHOD`):
MESS+, the single models, RouteLLM calibrated in hindsight per alpha, and RouterDC with one
routing for every alpha; never beside ``routerdc-alpha-*`` (a per-alpha threshold, stronger
than the paper's RouterDC) or the mixtures.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from messjax.fileio import atomic_savefig, atomic_write_text
from messjax.paper import PAPER_MESSPLUS_SATISFACTION, PAPER_RESULTS

#: our method -> key of messjax.paper.PAPER_RESULTS, for the rows computed the paper's way
#: only: RouteLLM with its threshold calibrated per alpha on the test stream (the paper's
#: "cheapest threshold meeting alpha"), RouterDC with one routing for every alpha.
PAPER_METHOD = {
    "messplus": "messplus",
    "single-large": "single-large",
    "single-medium": "single-medium",
    "routellm-hindsight": "routellm",
    "routerdc": "routerdc",
}


def _fmt(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r.get(k, "")) for k in columns])
    atomic_write_text(path, buf.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """``table.csv`` back as rows (numbers parsed; booleans as bool)."""
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row: dict[str, Any] = {}
            for k, v in r.items():
                if v in ("True", "False"):
                    row[k] = v == "True"
                else:
                    try:
                        row[k] = float(v) if v != "" else math.nan
                    except ValueError:
                        row[k] = v
            rows.append(row)
    return rows


def paper_numbers(meta: dict[str, Any], method: str, task: str):
    """(cost MJ, satisfaction %) the paper reports for this row, or (None, None): only for
    the full Llama zoo in the main scenario (``meta["paper"]``)."""
    if not meta.get("paper") or method not in PAPER_METHOD:
        return None, None
    if task == "mean" and not meta.get("paper_mean", True):
        return None, None
    cost, sat = PAPER_RESULTS[PAPER_METHOD[method]].get(task, (None, None))
    if method == "messplus" and sat is None:
        sat = PAPER_MESSPLUS_SATISFACTION.get(task)
    return cost, sat


#: How the table describes each sparse-feedback training rule.
SPARSE_RULE_TEXT = {
    "all_explorations": "every exploration, feedback or not, as in the authors' simulator",
    "feedback_only": "explorations with feedback only (messjax's engine default)",
}


#: "within 1 point" of alpha, with the same float32 slack as "met" (39/100 at alpha 0.4 is
#: 0.38999998 in float32)
NEAR = 0.01 + 1e-6


def _sla_mark(sat: float, alpha: float) -> str:
    if sat >= alpha - 1e-6:
        return "yes"
    return "~1pt" if sat >= alpha - NEAR else "no"


def _num(v, fmt: str) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def markdown(rows: list[dict[str, Any]], models: Sequence[str], meta: dict[str, Any]) -> str:
    """``table.md``: settings, per-task rows with the paper's numbers, means over tasks."""
    zoo, scenario = meta["zoo"], meta["scenario"]
    unit = meta.get("cost_label", "MJ")
    col = meta.get("cost_column", "cost_mj")
    shares = " / ".join(reversed(models))
    lines = [  # meta "title" / "settings" replace the heading / paragraph (messjax evaluate)
        meta.get("title") or f"# MESS+ reproduction — zoo `{zoo}`, scenario `{scenario}`",
        "",
        meta.get("settings")
        or (
            f"MESS+: V = {meta['V']:g}, c = {meta['c']:g}, `last_explore` cost estimate, MLP head "
            "(input and hidden dropout 0.1, n_dup copies per step), per-task predictor presets "
            f"(epochs, learning rate, momentum), feedback rate {meta['feedback_rate']:g}"
            + (
                f" (the predictor trains on {SPARSE_RULE_TEXT[meta['sparse_training']]})"
                if meta["feedback_rate"] < 1
                else ""
            )
            + f"; seeds {', '.join(str(s) for s in meta['seeds'])}; features "
            f"`{meta['featurizer']}`. "
            "messjax: messjax's own policy with its one default setting "
            "(`messjax/core/policy.py`), same request orders and feedback coins. "
            "Cost = total over the stream; satisfaction = final share of satisfied requests; mean "
            "± std over seeds. * = uses hindsight (test labels or true accuracies). "
            "`educated-guess` = the authors' cost-blind mixture, `mixture-lp` = the cheapest "
            "mixture meeting alpha. Offline routers train on the other tasks; `routerdc` serves "
            "the argmax of its predicted satisfactions (one routing for every alpha, as in the "
            "paper); `-hindsight` calibrates a per-alpha threshold on the test stream (over every "
            "distinct score), `-train` on held-out training rows. Paper numbers only beside rows "
            "computed the paper's way."
        ),
        "",
        f"| task | α | method | cost {unit} | satisfaction % | SLA met | paper cost {unit} | "
        f"paper sat % | × MESS+ | × oracle | calls % {shares} | explore % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pc, ps = paper_numbers(meta, r["method"], r["task"])
        name = r["method"] + (" *" if r["hindsight"] else "")
        calls = " / ".join(f"{100 * r[f'share_{m}']:.0f}" for m in reversed(models))
        lines.append(
            f"| {r['task']} | {r['alpha']:.3g} | {name} | "
            f"{r[col]:.3f} ± {r['cost_std']:.3f} | "
            f"{100 * r['satisfaction']:.1f} ± {100 * r['satisfaction_std']:.1f} | "
            f"{_sla_mark(r['satisfaction'], r['alpha'])} | {_num(pc, '.2f')} | {_num(ps, '.1f')} | "
            f"{_num(r['cost_vs_messplus'], '.2f')} | {_num(r['cost_vs_oracle'], '.2f')} | "
            f"{calls} | {100 * r['explore_share']:.1f} |"
        )
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    if len(tasks) > 1:
        lines += [
            "",
            f"## Mean over the {len(tasks)} tasks",
            "",
            f"| method | cost {unit} | satisfaction % | tasks meeting α (within 1 pt) | "
            f"paper cost {unit} | paper sat % | calls % {shares} |",
            "|---|---|---|---|---|---|---|",
        ]
        for method in dict.fromkeys(r["method"] for r in rows):
            sel = [r for r in rows if r["method"] == method]
            if len(sel) != len(tasks):
                continue
            met = sum(r["satisfaction"] >= r["alpha"] - 1e-6 for r in sel)
            near = sum(r["satisfaction"] >= r["alpha"] - NEAR for r in sel)
            pc, ps = paper_numbers(meta, method, "mean")
            calls = " / ".join(
                f"{100 * np.mean([r[f'share_{m}'] for r in sel]):.0f}" for m in reversed(models)
            )
            name = method + (" *" if sel[0]["hindsight"] else "")
            lines.append(
                f"| {name} | {np.mean([r[col] for r in sel]):.3f} | "
                f"{100 * np.mean([r['satisfaction'] for r in sel]):.1f} | {met} ({near}) of "
                f"{len(sel)} | {_num(pc, '.2f')} | {_num(ps, '.1f')} | {calls} |"
            )
    if "wall_s" in meta:
        lines += ["", f"Wall time of the run: {meta['wall_s']:.0f} s ({meta.get('host', '')})."]
    return "\n".join(lines) + "\n"


def plot_task(rows: list[dict[str, Any]], task: str, path: Path, meta: dict[str, Any]) -> None:
    """Cost (log axis) vs satisfaction of every method on one task, with the alpha line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sel = [r for r in rows if r["task"] == task]
    col, unit = meta.get("cost_column", "cost_mj"), meta.get("cost_label", "MJ")
    fig, ax = plt.subplots(figsize=(8.0, 4.4), dpi=100)
    markers = "os^vD<>phX*P"
    for i, r in enumerate(sel):
        hollow = r["hindsight"]
        ax.errorbar(
            r[col],
            100 * r["satisfaction"],
            xerr=r["cost_std"],
            yerr=100 * r["satisfaction_std"],
            fmt=markers[i % len(markers)],
            color=f"C{i % 10}",
            mfc="none" if hollow else f"C{i % 10}",
            ms=7,
            capsize=2,
            label=r["method"] + (" *" if hollow else ""),
        )
        pc, ps = paper_numbers(meta, r["method"], task)
        if pc is not None and ps is not None:
            ax.plot(pc, ps, "x", color=f"C{i % 10}", ms=8, mew=2)
    ax.axhline(100 * sel[0]["alpha"], color="k", ls="--", lw=1, label=f"α = {sel[0]['alpha']:g}")
    ax.set_xscale("log")
    ax.set_xlabel(f"total cost over the stream ({unit}, log scale)")
    ax.set_ylabel("final satisfaction (% of requests)")
    ax.set_title(
        f"{task} — {meta['zoo']} ({meta['scenario']}); x = paper, * = hindsight", fontsize=9
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    try:
        atomic_savefig(fig, path)
    finally:
        plt.close(fig)


def console_table(rows: list[dict[str, Any]], cost_col: str, unit: str) -> str:
    """A compact per-stream summary for the terminal (the full table is in the files)."""
    out = []
    w = max(len("method"), *(len(r["method"]) + 2 for r in rows))
    for task in dict.fromkeys(r["task"] for r in rows):
        sel = [r for r in rows if r["task"] == task]
        out.append(f"{task} (alpha {sel[0]['alpha']:g}, {sel[0]['num_requests']} requests)")
        out.append(
            f"  {'method':<{w}} {'cost ' + unit:>12} {'satisfaction %':>15} "
            f"{'meets α':>8} {'× oracle':>9}"
        )
        for r in sel:
            name = r["method"] + (" *" if r["hindsight"] else "")
            meets = (
                "yes"
                if r["sla_met"]
                else ("~1pt" if r["satisfaction"] >= r["alpha"] - NEAR else "no")
            )
            ratio = r.get("cost_vs_oracle", float("nan"))
            out.append(
                f"  {name:<{w}} {r[cost_col]:>12.4g} "
                f"{100 * r['satisfaction']:>8.1f} ± {100 * r['satisfaction_std']:<4.1f} {meets:>8} "
                f"{'' if ratio != ratio else f'{ratio:.2f}':>9}"
            )
    return "\n".join(out)


def evaluate_settings_text(meta: dict[str, Any]) -> str:
    V = (
        f"V = {meta['V']:g} relative to the largest estimated cost (relative_V = 1: decisions do "
        "not depend on the cost unit)"
        if meta["relative_V"]
        else f"V = {meta['V']:g} per {meta['cost_unit']} (absolute, as in the paper)"
    )
    return (
        f"MESS+: {V}, c = {meta['c']:g}, `last_explore` cost estimate, MLP head (input and "
        "hidden dropout 0.1, n_dup copies per step), the authors' predictor presets per task "
        "(epochs, learning rate, momentum; a default for tasks the paper does not have); seeds "
        f"{', '.join(str(s) for s in meta['seeds'])}; features `{meta['featurizer']}`. "
        f"Streams: {meta['stream_text']}. Offline routers train on: {meta['training_text']}. "
        "messjax: the project's policy, "
        + (
            f"its default setting but {meta['messjax_set']} (`--messjax-set`)"
            if meta.get("messjax_set")
            else "its one default setting"
        )
        + "; where the training rows are a split of the stream it starts from their labels "
        "(warm start), cold otherwise. "
        "`educated-guess` = the authors' cost-blind mixture, `mixture-lp` = the cheapest "
        "mixture meeting alpha; `routerdc` serves the argmax of its predicted satisfactions "
        "(one routing for every alpha); `-hindsight` calibrates a per-alpha threshold on the "
        "test stream, `-train` on held-out training rows. Cost = total over the stream; "
        "satisfaction = final share of satisfied requests; mean ± std over seeds. * = uses "
        "hindsight (test labels or true accuracies)."
    )
