"""A zoo as text: per task the request count and each model's accuracy and mean cost
(``messjax data describe``)."""

from __future__ import annotations

import numpy as np

from messjax.data.loaders.assemble import format_counts
from messjax.data.table import RoutingTable


def _fmt_cost(x: float) -> str:
    """Mean costs: whole numbers from 100 up, else 3 significant digits (62.5, 0.281, 0.00121)."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def describe(table: RoutingTable, width: int = 110) -> str:
    """A text summary: per task the request count and per model accuracy (%) and mean cost,
    then the totals over the zoo; models cheapest first; the requests dropped on load
    (``missing="drop"``) counted per task.

    Zoos whose table would be wider than ``width`` characters (many models, long ids) are
    printed transposed: a models table (number, id, accuracy, mean cost), then per task the
    accuracy and the mean cost of each model under its number.
    """
    unit = table.cost_unit
    n_tasks = len(table.task_names)
    out = [
        f"zoo {table.name}: {len(table)} requests, {n_tasks} task{'s' * (n_tasks != 1)}, "
        f"{table.num_models} models (cheapest first), cost unit {unit}",
        f"source {table.source}",
    ]
    if table.dropped_rows:
        out.append(
            f"dropped on load: {table.dropped_rows} requests with an empty score or cost cell "
            f"(per task: {format_counts(table.dropped)})"
        )
    w = max(14, *(len(m) for m in table.models))
    tw = max(8, *(len(t) for t in table.task_names), len("total"))
    if tw + 9 + table.num_models * (w + 3) <= width:
        out += _describe_wide(table, w, tw)
    else:
        out += _describe_long(table, tw)
    return "\n".join(s.rstrip() for s in out)


def _task_tables(table: RoutingTable) -> list[tuple[str, RoutingTable]]:
    rows = [(t, table.take(np.flatnonzero(table.tasks == t))) for t in table.task_names]
    return [*rows, ("total", table)]


def _describe_wide(table: RoutingTable, w: int, tw: int) -> list[str]:
    """One column pair (accuracy, mean cost) per model, models named in full."""
    unit = table.cost_unit
    drop = bool(table.dropped)
    dh = f" {'dropped':>7}" if drop else ""
    head1 = f"{'':<{tw}} {'':>8}" + " " * len(dh) + "".join(f" | {m:^{w}}" for m in table.models)
    sub = f"{'acc %':>6} {'cost ' + unit:>{w - 7}}"
    head2 = f"{'task':<{tw}} {'requests':>8}{dh}" + "".join(f" | {sub:>{w}}" for _ in table.models)

    def line(label: str, t: RoutingTable) -> str:
        cells = "".join(
            f" | {100 * acc:>6.1f} {_fmt_cost(c):>{w - 7}}"
            for acc, c in zip(t.accuracy(), t.mean_cost(), strict=True)
        )
        n_drop = table.dropped_rows if label == "total" else table.dropped.get(label, 0)
        d = f" {n_drop:>7}" if drop else ""
        return f"{label:<{tw}} {len(t):>8}{d}" + cells

    rows = _task_tables(table)
    out = [head1, head2, "-" * len(head2)]
    out += [line(label, t) for label, t in rows[:-1]]
    return [*out, "-" * len(head2), line(*rows[-1])]


def _describe_long(table: RoutingTable, tw: int) -> list[str]:
    """Transposed for big zoos: a models table, then per task one number per model."""
    unit = table.cost_unit
    M = table.num_models
    mw = max(len("model"), *(len(m) for m in table.models))
    out = [
        "",
        f"{'#':>3}  {'model':<{mw}}  {'acc %':>6}  {'mean cost ' + unit:>12}",
    ]
    for k, (m, acc, c) in enumerate(
        zip(table.models, table.accuracy(), table.mean_cost(), strict=True)
    ):
        out.append(f"{k + 1:>3}  {m:<{mw}}  {100 * acc:>6.1f}  {_fmt_cost(c):>12}")
    rows = _task_tables(table)
    drop = bool(table.dropped)
    top = float(np.max(table.mean_cost()))
    # per-task costs on one scale (e.g. 1e-05 $), so that every cell is short
    e = int(np.floor(np.log10(top))) - 2 if top > 0 and not 1 <= top < 1e5 else 0
    cost_label = f"mean cost ({unit}) per model" if e == 0 else f"mean cost (1e{e} {unit})"
    for title, cell in (
        (
            "accuracy % per model (numbers as above)",
            lambda t: [f"{100 * a:.1f}" for a in t.accuracy()],
        ),
        (cost_label, lambda t: [_fmt_cost(c / 10.0**e) for c in t.mean_cost()]),
    ):
        cw = max(len(str(M)), *(len(v) for _, t in rows for v in cell(t)))
        dh = f" {'dropped':>7}" if drop else ""
        head = f"{'task':<{tw}} {'requests':>8}{dh} |" + "".join(
            f" {k + 1:>{cw}}" for k in range(M)
        )
        out += ["", title, head, "-" * len(head)]
        for label, t in rows:
            if label == "total":
                out.append("-" * len(head))
            n_drop = table.dropped_rows if label == "total" else table.dropped.get(label, 0)
            d = f" {n_drop:>7}" if drop else ""
            out.append(f"{label:<{tw}} {len(t):>8}{d} |" + "".join(f" {v:>{cw}}" for v in cell(t)))
    return out
