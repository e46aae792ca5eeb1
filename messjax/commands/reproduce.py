"""``messjax reproduce``: the paper's main table — MESS+ and every baseline per task.

For each task of the zoo (MESSPLUS.md section 6): MESS+ as in the paper (V = 1e-4, c = 0.1,
``last_explore`` cost estimate, MLP head, the authors' per-task predictor presets, seeds 42,
43, 44) through :func:`messjax.runs.experiment.sweep_table`, and the baselines of
:mod:`messjax.baselines` on the same request orders. Writes ``DIR/table.csv`` (one row per task
x method), ``DIR/table.md`` (the paper's numbers beside ours where it has them) and a
cost-vs-satisfaction figure per task, ``DIR/figures/<task>.png``.

Scenarios: ``main`` (each task its own shuffled stream), ``chain`` (ARC-Challenge, PIQA,
WinoGrande concatenated, each segment shuffled per seed; alpha = 0.67 as in the authors'
notebook for the paper's chain and alphas, else the request-weighted mean of the tasks'
alphas), ``sparse`` (as main with feedback on 20% of requests, ``feedback_rate = 0.2``; the
predictor trains on every exploration as in the authors' simulator, ``--sparse-training``
chooses, and the other rule is reported as an extra row ``messplus-<rule>``).

Paper numbers are printed only beside rows computed the paper's way (:data:`PAPER_METHOD`):
MESS+, the single models, RouteLLM calibrated in hindsight per alpha, and RouterDC with one
routing for every alpha; never beside ``routerdc-alpha-*`` (a per-alpha threshold, stronger
than the paper's RouterDC) or the mixtures.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from messjax.commands._common import add_data_dir, data_dir
from messjax.core.names import SPARSE_TRAINING

NAME = "reproduce"
HELP = "reproduce the paper's main table: MESS+ and baselines per task (table.csv/.md, figures)"

SCENARIOS = ("main", "chain", "sparse")
#: The non-stationary stream of the paper (MESSPLUS.md section 2, "Variants").
CHAIN_TASKS = ("arc_challenge", "piqa", "winogrande")
SPARSE_FEEDBACK_RATE = 0.2
#: The sparse scenario's default training rule: the authors' simulator.
SPARSE_TRAINING_DEFAULT = "all_explorations"
METHOD_ORDER = (
    "messplus",
    "messjax",
    "oracle",
    "mixture-lp",
    "educated-guess",
    "routellm-hindsight",
    "routellm-train",
    "routerdc",
    "routerdc-alpha-hindsight",
    "routerdc-alpha-train",
)
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--zoo",
        default="llama3",
        help="llama3 (paper alphas), qwen2 (middle of the authors' alpha grid), llama3+qwen2 "
        "(7 models, llama3 alphas), or a MESS+ log folder (default: llama3)",
    )
    add_data_dir(parser)
    parser.add_argument(
        "--out", default=None, help="output folder (default: results/<zoo>[-<scenario>])"
    )
    parser.add_argument(
        "--seeds", type=int, default=3, help="number of seeds, from 42 upward (default: 3)"
    )
    parser.add_argument(
        "--featurizer",
        choices=("minilm", "hash"),
        default=None,
        help="request embeddings (default: minilm if its weights are installed, else hash)",
    )
    parser.add_argument("--scenario", choices=SCENARIOS, default="main", help="default: main")
    parser.add_argument(
        "--sparse-training",
        choices=SPARSE_TRAINING,
        default=SPARSE_TRAINING_DEFAULT,
        help="sparse scenario: what the predictor trains on, every exploration (the authors' "
        "simulator, default) or explorations with feedback only (messjax's engine default); "
        "the other rule is reported as an extra row",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into the output folder even if it holds files messjax did not write",
    )
    parser.add_argument(
        "--cache-dir", default=None, help="feature cache (default: $MESSJAX_CACHE_DIR or ~/.cache)"
    )
    # Hidden options to shrink the run (tests) or add a row.
    parser.add_argument("--tasks", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max-requests", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--router-steps", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--extra-V", type=float, action="append", default=[], help=argparse.SUPPRESS
    )
    parser.add_argument("--no-figures", action="store_true", help=argparse.SUPPRESS)


# ------------------------------------------------------------------------------ streams
@dataclass
class StreamSpec:
    """One evaluation stream: the test table, its training table, alpha and MESS+ settings."""

    name: str
    test_index: np.ndarray  # rows of the zoo table, unshuffled (segments in chain order)
    train_index: np.ndarray  # rows the offline routers learn from (the other tasks)
    alpha: float
    epochs: int
    learning_rate: float
    feedback_rate: float = 1.0
    segments: list[int] = field(default_factory=list)  # segment lengths (chain), else [T]
    momentum: float = 0.9
    sparse_training: str = "feedback_only"

    def orders(self, seeds: Sequence[int]) -> dict[int, np.ndarray]:
        """Per seed: each segment shuffled with the seed (one segment = the sweep's order)."""
        from messjax.data.streams import permutation

        out = {}
        for s in seeds:
            parts, start = [], 0
            for n in self.segments:
                parts.append(start + permutation(n, int(s)))
                start += n
            out[int(s)] = np.concatenate(parts)
        return out


def zoo_alphas(zoo: str) -> dict[str, float]:
    """SLA targets per task: the paper's for Llama (and the joined zoo), the middle of the
    authors' grid for Qwen (``qwen2``, ``synthetic-qwen2``)."""
    from messjax.paper import ALPHA_GRID, PAPER_ALPHA

    if zoo.endswith("qwen2") and "llama3" not in zoo:
        return {t: g[len(g) // 2] for t, g in ALPHA_GRID["qwen2"].items()}
    return dict(PAPER_ALPHA)


def build_streams(
    table,
    alphas: dict[str, float],
    scenario: str,
    tasks: Sequence[str] | None = None,
    sparse_training: str = SPARSE_TRAINING_DEFAULT,
) -> list[StreamSpec]:
    """The evaluation streams of a scenario over ``table`` (tasks with an alpha only)."""
    from messjax.errors import ConfigError
    from messjax.paper import CHAIN_ALPHA, PAPER_ALPHA, predictor_preset

    known = [t for t in table.task_names if t in alphas]
    if tasks:
        for t in tasks:
            if t not in known:
                raise ConfigError("tasks", f"unknown task {t!r}; tasks with an alpha: {known}")
    feedback = SPARSE_FEEDBACK_RATE if scenario == "sparse" else 1.0
    if scenario == "chain":
        chain = list(tasks) if tasks else list(CHAIN_TASKS)
        for t in chain:
            if t not in known:
                raise ConfigError("scenario", f"chain task {t!r} not in the zoo ({known})")
        parts = [np.flatnonzero(table.tasks == t) for t in chain]
        sizes = [len(p) for p in parts]
        paper_chain = tuple(chain) == CHAIN_TASKS and all(
            alphas[t] == PAPER_ALPHA[t] for t in chain
        )
        if paper_chain:  # the authors' notebook
            alpha = CHAIN_ALPHA
        else:  # the request-weighted mean of the segments' alphas
            alpha = sum(alphas[t] * n for t, n in zip(chain, sizes, strict=True)) / sum(sizes)
        epochs, lr, momentum = predictor_preset("chain")  # a mixed stream: the default preset
        test = np.concatenate(parts)
        train = np.flatnonzero(~np.isin(table.tasks, chain))
        name = "+".join(chain)
        spec = StreamSpec(name, test, train, round(alpha, 4), epochs, lr, 1.0, sizes, momentum)
        return [spec]
    streams = []
    rule = sparse_training if scenario == "sparse" else "feedback_only"
    for t in tasks or known:
        epochs, lr, momentum = predictor_preset(t)
        test = np.flatnonzero(table.tasks == t)
        train = np.flatnonzero(table.tasks != t)
        streams.append(
            StreamSpec(t, test, train, alphas[t], epochs, lr, feedback, [len(test)], momentum, rule)
        )
    return streams


def load_table(zoo: str, data_dir: str | None, max_requests: int | None = None):
    """``(table, zoo name)``: a zoo name or log folder, or ``synthetic[:<preset>]`` (the
    embedded synthetic zoo); ``max_requests`` keeps the first rows of every task (to shrink a
    run)."""
    from messjax.data import load_zoo, synthetic_zoo

    if zoo.startswith("synthetic"):
        preset = zoo.partition(":")[2] or "llama3"
        table = synthetic_zoo(preset, num_requests=max_requests)
        name = f"synthetic-{preset}"
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = load_zoo(zoo, data_dir=data_dir)
        for w in caught:
            print(f"messjax reproduce: note: {w.message}", file=sys.stderr)
        name = zoo if zoo in ("llama3", "qwen2", "llama3+qwen2") else table.name
    if max_requests:
        keep = [np.flatnonzero(table.tasks == t)[:max_requests] for t in table.task_names]
        table = table.take(np.sort(np.concatenate(keep)))
    return table, name


# ------------------------------------------------------------------------------ evaluation
def run_messplus(
    table,
    x,
    spec: StreamSpec,
    seeds,
    V: float,
    c: float,
    sparse_training: str | None = None,
    *,
    relative_V: int = 0,
):
    """MESS+ (paper defaults) on one stream, as a :class:`~messjax.baselines.MethodResult`
    (``sparse_training`` overrides the stream's rule; ``relative_V=1``, ``messjax evaluate``'s
    default, makes V unit-free: V * E_hat / max E_hat)."""
    from messjax.baselines import from_sweep
    from messjax.core.sweep import make_grid, run_sweep
    from messjax.runs.experiment import engine_config, sweep_table

    test = table.take(spec.test_index)
    grid = make_grid(
        seeds,
        alpha=spec.alpha,
        V=V,
        c=c,
        learning_rate=spec.learning_rate,
        epochs=spec.epochs,
        momentum=spec.momentum,
        feedback_rate=spec.feedback_rate,
        sparse_training=sparse_training or spec.sparse_training,
        cost_estimator="last_explore",
        relative_V=relative_V,
    )
    xt = x[spec.test_index]
    if len(spec.segments) == 1:
        result = sweep_table(test, grid, x=xt, head="mlp")
    else:  # a chain: each segment shuffled on its own (sweep_table shuffles the whole stream)
        result = run_sweep(
            xt,
            test.labels,
            test.costs,
            grid,
            engine_config(test, xt, "mlp"),
            orders=spec.orders(seeds),
        )
    return from_sweep(result)


def run_messjax(table, x, spec: StreamSpec, seeds, **overrides):
    """messjax's own policy (:mod:`messjax.core.policy`, its one default setting) on one
    stream, same request orders as every other method; ``overrides`` set policy or shared
    hyperparameters (the ablation)."""
    from messjax.baselines import MethodResult
    from messjax.core import policy

    pp_keys = {k: v for k, v in overrides.items() if k in policy.POLICY_PARAM_NAMES}
    hp_keys = {k: v for k, v in overrides.items() if k not in policy.POLICY_PARAM_NAMES}
    test = table.take(spec.test_index)
    hp = policy.default_hparams(alpha=spec.alpha, feedback_rate=spec.feedback_rate, **hp_keys)
    pp = policy.default_policy_params(**pp_keys)
    orders = spec.orders(seeds)
    cells = [dict(stream=0, seed=int(s), order=orders[int(s)], hp=hp, pp=pp) for s in seeds]
    summary, _ = policy.run_cells([(x[spec.test_index], test.labels, test.costs)], cells)
    return MethodResult("messjax", float(spec.alpha), np.asarray(seeds), summary)


def evaluate_stream(
    table, x, spec: StreamSpec, seeds, *, V=1e-4, c=0.1, extra_V=(), training=None, relative_V=0
):
    """Every method on one stream: ``{name: MethodResult}`` (MESS+ first, then messjax)."""
    from messjax.baselines import RouterTraining, run_baselines

    results = {"messplus": run_messplus(table, x, spec, seeds, V, c, relative_V=relative_V)}
    results["messjax"] = run_messjax(table, x, spec, seeds)
    if spec.feedback_rate < 1:  # the other sparse-feedback training rule, named
        other = next(r for r in SPARSE_TRAINING if r != spec.sparse_training)
        r = run_messplus(table, x, spec, seeds, V, c, sparse_training=other, relative_V=relative_V)
        r.name = f"messplus-{other.replace('_', '-')}"
        results[r.name] = r
    for v in extra_V:
        r = run_messplus(table, x, spec, seeds, v, c, relative_V=relative_V)
        r.name = f"messplus-V={v:g}"
        results[r.name] = r
    results.update(
        run_baselines(
            table.take(spec.test_index),
            spec.alpha,
            seeds,
            x_test=x[spec.test_index],
            train=table.take(spec.train_index),
            x_train=x[spec.train_index],
            orders=spec.orders(seeds),
            training=training or RouterTraining(),
        )
    )
    return results


def ordered_methods(names, models) -> list[str]:
    singles = [f"single-{m}" for m in reversed(models)]
    order = list(METHOD_ORDER[:1]) + [n for n in names if n.startswith("messplus-")]
    order += list(METHOD_ORDER[1:]) + singles
    return [n for n in order if n in names] + [n for n in names if n not in order]


def reproduce(
    table,
    streams: Sequence[StreamSpec],
    x: np.ndarray,
    seeds: Sequence[int],
    *,
    V: float = 1e-4,
    c: float = 0.1,
    extra_V: Sequence[float] = (),
    training=None,
    log=print,
) -> tuple[list[dict[str, Any]], dict[str, dict]]:
    """Rows of the table (one per stream x method) and the raw results per stream."""
    from messjax.metrics import add_relative_costs, method_row

    rows, raw = [], {}
    for spec in streams:
        t0 = time.perf_counter()
        results = evaluate_stream(
            table, x, spec, seeds, V=V, c=c, extra_V=extra_V, training=training
        )
        raw[spec.name] = results
        for name in ordered_methods(list(results), table.models):
            rows.append(method_row(results[name], table.models, table.cost_unit, task=spec.name))
        mp = results["messplus"]
        log(
            f"  {spec.name:14s} T={len(spec.test_index):5d} alpha={spec.alpha:.3f}  MESS+ "
            f"{mp.summary.total_cost.mean() / 1e6:.3f} MJ, "
            f"{100 * mp.summary.satisfaction.mean():.1f}%  ({time.perf_counter() - t0:.0f} s)"
        )
    return add_relative_costs(rows, table.cost_unit), raw


# ------------------------------------------------------------------------------ outputs
def _fmt(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    from messjax.fileio import atomic_write_text

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
    from messjax.paper import PAPER_MESSPLUS_SATISFACTION, PAPER_RESULTS

    if not meta.get("paper") or method not in PAPER_METHOD:
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


def _sla_mark(sat: float, alpha: float) -> str:
    if sat >= alpha - 1e-6:
        return "yes"
    return "~1pt" if sat >= alpha - 0.01 else "no"


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
            near = sum(r["satisfaction"] >= r["alpha"] - 0.01 for r in sel)
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
    from messjax.fileio import atomic_savefig

    try:
        atomic_savefig(fig, path)
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------ entry point
def default_featurizer(log=print) -> str:
    from messjax.features import find_weights

    try:
        find_weights()
        return "minilm"
    except FileNotFoundError as e:
        log(f"messjax reproduce: note: MiniLM weights not found ({e}); using --featurizer hash")
        return "hash"


def main(args: argparse.Namespace) -> int:
    from messjax.baselines import RouterTraining
    from messjax.errors import ConfigError
    from messjax.fileio import claim_output_dir
    from messjax.metrics import cost_column, cost_display
    from messjax.paper import PAPER_C, PAPER_V, first_seeds
    from messjax.runs.experiment import table_features

    t_start = time.perf_counter()
    if args.seeds < 1:
        raise ConfigError("seeds", f"must be >= 1, got {args.seeds}")
    seeds = first_seeds(args.seeds)
    featurizer = args.featurizer or default_featurizer()
    table, zoo = load_table(args.zoo, data_dir(args), args.max_requests)
    tasks = [t for t in args.tasks.split(",") if t] if args.tasks else None
    streams = build_streams(table, zoo_alphas(zoo), args.scenario, tasks, args.sparse_training)
    suffix = "" if args.scenario == "main" else f"-{args.scenario}"
    out = Path(args.out or f"results/{zoo}{suffix}")
    output = claim_output_dir(out, NAME, force=args.force)

    print(
        f"messjax reproduce: zoo {zoo} ({len(table)} requests, models "
        f"{', '.join(table.models)}), scenario {args.scenario}, seeds {seeds}, "
        f"featurizer {featurizer}"
    )
    t0 = time.perf_counter()
    x = table_features(table, featurizer, cache_dir=args.cache_dir, progress=True)
    print(f"  features {x.shape} in {time.perf_counter() - t0:.0f} s")
    training = RouterTraining(**({"steps": args.router_steps} if args.router_steps else {}))
    rows, _ = reproduce(
        table, streams, x, seeds, V=PAPER_V, c=PAPER_C, extra_V=args.extra_V, training=training
    )
    scale_unit = cost_display(table.cost_unit)[1]
    meta = dict(
        zoo=zoo,
        scenario=args.scenario,
        V=PAPER_V,
        c=PAPER_C,
        seeds=seeds,
        featurizer=featurizer,
        feedback_rate=streams[0].feedback_rate,
        sparse_training=streams[0].sparse_training,
        cost_column=cost_column(table.cost_unit),
        cost_label=scale_unit,
        paper=zoo == "llama3" and args.scenario == "main" and not args.max_requests,
    )
    write_csv(rows, output.file("table.csv"))
    if not args.no_figures:
        for spec in streams:
            plot_task(rows, spec.name, output.file(f"figures/{spec.name}.png"), meta)
    meta.update(wall_s=time.perf_counter() - t_start, host=f"{os.cpu_count()} CPU cores")
    output.write_text("table.md", markdown(rows, table.models, meta))
    print(
        f"wrote {out / 'table.csv'}, {out / 'table.md'}"
        + ("" if args.no_figures else f", {out / 'figures'}/*.png")
        + f" in {meta['wall_s']:.0f} s"
    )
    return 0
