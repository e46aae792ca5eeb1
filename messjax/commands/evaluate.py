"""``messjax evaluate``: every routing method on your own logs, on the same request orders.

``messjax evaluate --zoo PATH|NAME --alpha A`` reads a zoo (MESS+, RouterBench or RouteLLM logs,
or a named zoo), builds the evaluation streams and runs every method of :data:`METHODS` on each
(MESS+, the project's own policy once it is in the build, and every baseline of
:mod:`messjax.baselines`), through the same functions as ``messjax reproduce``
(:func:`~messjax.commands.reproduce.evaluate_stream`). It writes ``DIR/table.csv`` (one row per
stream x method), ``DIR/table.md`` and a cost-vs-satisfaction figure per stream,
``DIR/figures/<stream>.png``. ``reproduce`` is this command with the paper's settings (its
zoos, alphas, absolute V = 1e-4 J^-1).

Streams: one per task (default; each seed shuffles the task), or ``--stream mixed``: all the
selected tasks shuffled together into one stream with one alpha.

Offline routers (RouteLLM- and RouterDC-style) need training data, chosen per stream and named
in the ``offline_training`` column of the table:

- ``leave-one-task-out``: the zoo's other tasks (one stream per task, several tasks);
- ``other tasks``: a mixed stream of some tasks trains on the zoo's remaining tasks;
- ``split``: otherwise (one task, or a mixed stream of every task) a seeded train/test split of
  the stream (``--train-fraction``, default 0.25, seeded by the first seed); then every method,
  MESS+ included, is evaluated on the test part only, so all rows see the same requests.

V that transfers between cost units and zoos: MESS+ here uses ``relative_V = 1`` (the argmin
weighs ``V * E_hat[m] / max_m E_hat[m]``, so multiplying every cost by a constant changes no
decision) with V = :data:`DEFAULT_RELATIVE_V`, which equals the paper's trade-off on its logs;
``--V`` overrides it, ``--absolute-V`` restores the paper's V in the cost's own unit.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from messjax.commands._zoo import add_log_arguments, load

NAME = "evaluate"
HELP = (
    "every routing method on your own logs (RouterBench, RouteLLM, MESS+): table.csv/.md, figures"
)

#: The paper's V = 1e-4 J^-1 times the largest model's mean energy per request on the authors'
#: Llama logs (Llama 3.3 70B: 1,618 J, the mean over the 8 paper tasks of its per-task means,
#: 1,000-2,230 J; `messjax data describe llama3`): 1e-4 * 1618 = 0.16. With ``relative_V = 1``
#: the argmin sees V * E_hat[m] / max_m E_hat[m], and max_m E_hat (the last exploration's costs)
#: is the 70B model's energy on that request, 1,618 J on average, so V_rel = 0.16 weighs cost
#: against the queue as the paper's absolute V does on its own logs, in any cost unit.
DEFAULT_RELATIVE_V = 0.16
DEFAULT_C = 0.1
DEFAULT_TRAIN_FRACTION = 0.25
STREAMS = ("tasks", "mixed")
MIXED = "mixed"


# ------------------------------------------------------------------------------ methods
@dataclasses.dataclass(frozen=True)
class Method:
    """A method name ``evaluate`` knows: what it is and whether it uses hindsight."""

    name: str
    help: str
    hindsight: bool = False


#: The registry of methods, in table order. The results come from
#: :func:`~messjax.commands.reproduce.evaluate_stream` (MESS+, the project's policy, baselines);
#: ``single-<model>`` rows exist for every model of the zoo. A method plugs in with one line
#: here (and its result in ``evaluate_stream``); names that ``reproduce.METHOD_ORDER`` lists are
#: known as well, so renamed baselines need no change here.
METHODS: list[Method] = [
    Method("messplus", "MESS+ (the paper's rule; relative V by default, see --V)"),
    Method("messjax", "the project's own routing policy"),
    Method("oracle", "per-request LP floor with perfect hindsight", True),
    Method("mixture-lp", "cheapest model mixture meeting alpha from true accuracies", True),
    Method("educated-guess", "the authors' cost-blind mixture from true accuracies", True),
    Method("routellm-hindsight", "RouteLLM-style binary router, threshold set on the test", True),
    Method("routellm-train", "RouteLLM-style binary router, threshold set on training data"),
    Method("routerdc", "RouterDC-style router, argmax of its predictions (every alpha)"),
    Method("routerdc-alpha-hindsight", "RouterDC-style, per-alpha threshold on the test", True),
    Method("routerdc-alpha-train", "RouterDC-style, per-alpha threshold on training data"),
]
SINGLE = "single-"


def known_methods(models: Sequence[str]) -> list[str]:
    """Every method name ``--method`` accepts for a zoo with these models, in table order."""
    from messjax.commands.reproduce import METHOD_ORDER

    names = [m.name for m in METHODS] + [
        n for n in METHOD_ORDER if n not in {m.name for m in METHODS}
    ]
    return names + [f"{SINGLE}{m}" for m in reversed(models)]


def select_methods(requested: Sequence[str] | None, models: Sequence[str]) -> list[str] | None:
    """The ``--method`` names (comma lists and repeats allowed), checked; ``None`` = all.

    ``single`` selects every ``single-<model>`` row.
    """
    from messjax.errors import ConfigError

    if not requested:
        return None
    known = known_methods(models)
    out: list[str] = []
    for item in (n.strip() for r in requested for n in r.split(",")):
        if not item:
            continue
        names = [n for n in known if n.startswith(SINGLE)] if item == "single" else [item]
        for n in names:
            if n not in known:
                close = difflib.get_close_matches(n, known, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    "method", f"unknown method {n!r}{hint}; known methods: {', '.join(known)}"
                )
            if n not in out:
                out.append(n)
    return out


# ------------------------------------------------------------------------------ alphas
@dataclasses.dataclass(frozen=True)
class Alphas:
    """SLA targets from ``--alpha``: one for every task, per-task ones, or the paper's.

    ``--alpha 0.8`` (every task), ``--alpha boolq=0.8,arc_easy=0.75`` or repeated
    ``--alpha boolq=0.8 --alpha 0.7`` (per task, the plain value for the rest), ``--alpha paper``
    (the paper's per-task targets, for its zoos).
    """

    default: float | None = None
    per_task: dict[str, float] = dataclasses.field(default_factory=dict)
    paper: bool = False

    @classmethod
    def parse(cls, values: Sequence[str] | None) -> Alphas:
        from messjax.errors import ConfigError

        default, per_task, paper = None, {}, False
        for item in (v.strip() for raw in values or [] for v in str(raw).split(",")):
            if not item:
                continue
            if item == "paper":
                paper = True
            elif "=" in item:
                task, _, value = item.rpartition("=")
                per_task[task.strip()] = _alpha(value, f"alpha {task.strip()}")
            else:
                if default is not None:
                    raise ConfigError("alpha", f"two plain alphas given ({default:g}, {item})")
                default = _alpha(item, "alpha")
        return cls(default, per_task, paper)

    def for_tasks(
        self, tasks: Sequence[str], zoo_tasks: Sequence[str], zoo: str
    ) -> dict[str, float]:
        """task -> alpha for every task; a missing alpha or an unknown task is an error."""
        from messjax.errors import ConfigError

        for t in self.per_task:
            if t not in zoo_tasks:
                close = difflib.get_close_matches(t, list(zoo_tasks), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    "alpha",
                    f"alpha given for task {t!r}, which the zoo does not have{hint}; "
                    f"tasks: {', '.join(zoo_tasks)}",
                )
        paper = _paper_alphas(zoo) if self.paper else {}
        out = {}
        for t in tasks:
            a = self.per_task.get(t, self.default if self.default is not None else paper.get(t))
            if a is None:
                raise ConfigError(
                    "alpha",
                    f"no alpha for task {t!r}: give --alpha A (every task) or --alpha {t}=A"
                    + (" (the paper has no alpha for it)" if self.paper else ""),
                )
            out[t] = a
        return out

    def single(self) -> float:
        """The one alpha of a mixed stream."""
        from messjax.errors import ConfigError

        if self.per_task or self.paper or self.default is None:
            raise ConfigError(
                "alpha",
                "--stream mixed serves all tasks as one stream with one SLA target: give one "
                "plain --alpha A"
                + (" (not per-task alphas)" if self.per_task or self.paper else ""),
            )
        return self.default


def _alpha(value: str, key: str) -> float:
    from messjax.errors import ConfigError

    try:
        a = float(value)
    except ValueError:
        raise ConfigError(key, f"not a number: {value!r}") from None
    if not 0.0 < a < 1.0:
        raise ConfigError(key, f"must be in (0, 1), got {value}")
    return a


def _paper_alphas(zoo: str) -> dict[str, float]:
    from messjax.commands.reproduce import zoo_alphas

    return zoo_alphas(zoo)


# ------------------------------------------------------------------------------ streams
def build_streams(
    table,
    tasks: Sequence[str],
    alphas: Alphas,
    stream: str,
    zoo: str,
    *,
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
    split_seed: int = 42,
):
    """``[(StreamSpec, offline training label)]`` for ``--stream tasks`` or ``mixed``."""
    from messjax.commands.reproduce import StreamSpec
    from messjax.data.streams import permutation
    from messjax.errors import ConfigError
    from messjax.paper import predictor_preset

    if not 0.0 < train_fraction < 1.0:
        raise ConfigError("train-fraction", f"must be in (0, 1), got {train_fraction}")
    zoo_tasks = table.task_names
    for t in tasks:
        if t not in zoo_tasks:
            table.select_task(t)  # the DataError naming the known tasks

    def split(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(test, train) rows: the first ``round(f n)`` of a seeded permutation train."""
        n_train = min(max(round(train_fraction * len(rows)), 1), len(rows) - 1)
        if len(rows) < 2:
            raise ConfigError("stream", f"cannot split a stream of {len(rows)} request(s)")
        perm = permutation(len(rows), split_seed)
        return np.sort(rows[perm[n_train:]]), np.sort(rows[perm[:n_train]])

    split_label = f"split ({train_fraction:.0%} of the stream trains, seed {split_seed})"
    specs = []
    if stream == MIXED:
        alpha = alphas.single()
        alphas.for_tasks(tasks, zoo_tasks, zoo)  # unknown per-task names are still errors
        rows = np.flatnonzero(np.isin(table.tasks, list(tasks)))
        others = np.flatnonzero(~np.isin(table.tasks, list(tasks)))
        if len(others):
            test, train, label = rows, others, "other tasks"
        else:
            (test, train), label = split(rows), split_label
        epochs, lr, momentum = predictor_preset(MIXED)
        spec = StreamSpec(MIXED, test, train, alpha, epochs, lr, 1.0, [len(test)], momentum)
        specs.append((spec, label))
        return specs
    per_task = alphas.for_tasks(tasks, zoo_tasks, zoo)
    for t in tasks:
        rows = np.flatnonzero(table.tasks == t)
        if len(zoo_tasks) > 1:
            test, train, label = rows, np.flatnonzero(table.tasks != t), "leave-one-task-out"
        else:
            (test, train), label = split(rows), split_label
        epochs, lr, momentum = predictor_preset(t)
        spec = StreamSpec(t, test, train, per_task[t], epochs, lr, 1.0, [len(test)], momentum)
        specs.append((spec, label))
    return specs


# ------------------------------------------------------------------------------ evaluation
@dataclasses.dataclass(frozen=True)
class Settings:
    """MESS+ settings of ``evaluate``: V (relative by default), c, seeds, offline training."""

    V: float = DEFAULT_RELATIVE_V
    relative_V: int = 1
    c: float = DEFAULT_C
    seeds: tuple[int, ...] = (42, 43, 44)
    training: Any = None  # messjax.baselines.RouterTraining
    methods: tuple[str, ...] | None = None  # None: every method


def evaluate(
    table,
    streams,
    x: np.ndarray,
    settings: Settings = Settings(),
    *,
    log: Callable[[str], Any] = print,
) -> tuple[list[dict[str, Any]], dict[str, dict]]:
    """Rows of the table (one per stream x method, ``offline_training`` named) and the raw
    :class:`~messjax.baselines.MethodResult` per stream and method."""
    from messjax.commands.reproduce import evaluate_stream, ordered_methods
    from messjax.errors import ConfigError
    from messjax.metrics import add_relative_costs, cost_display, method_row

    scale, unit, _ = cost_display(table.cost_unit)
    rows, raw = [], {}
    for spec, label in streams:
        t0 = time.perf_counter()
        results = evaluate_stream(
            table,
            x,
            spec,
            list(settings.seeds),
            V=settings.V,
            c=settings.c,
            training=settings.training,
            relative_V=settings.relative_V,
        )
        names = ordered_methods(list(results), table.models)
        if settings.methods is not None:
            absent = [m for m in settings.methods if m not in results]
            if absent:
                raise ConfigError(
                    "method",
                    f"method {absent[0]!r} is not available in this build of messjax; "
                    f"available: {', '.join(names)}",
                )
            names = [n for n in names if n in settings.methods]
        raw[spec.name] = {n: results[n] for n in names}
        for n in names:
            rows.append(
                method_row(
                    results[n],
                    table.models,
                    table.cost_unit,
                    task=spec.name,
                    offline_training=label,
                )
            )
        summary = ", ".join(
            f"{n} {scale * results[n].summary.total_cost.mean():.4g} {unit} "
            f"{100 * results[n].summary.satisfaction.mean():.1f}%"
            for n in names
            if n in ("messplus", "messjax")
        )
        log(
            f"  {spec.name}: {len(spec.test_index)} requests, alpha {spec.alpha:g}, offline "
            f"routers: {label}; {summary} ({time.perf_counter() - t0:.0f} s)"
        )
    return add_relative_costs(rows, table.cost_unit), raw


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
                else ("~1pt" if r["satisfaction"] >= r["alpha"] - 0.01 else "no")
            )
            ratio = r.get("cost_vs_oracle", float("nan"))
            out.append(
                f"  {name:<{w}} {r[cost_col]:>12.4g} "
                f"{100 * r['satisfaction']:>8.1f} ± {100 * r['satisfaction_std']:<4.1f} {meets:>8} "
                f"{'' if ratio != ratio else f'{ratio:.2f}':>9}"
            )
    return "\n".join(out)


def _settings_text(meta: dict[str, Any]) -> str:
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
        "`educated-guess` = the authors' cost-blind mixture, `mixture-lp` = the cheapest "
        "mixture meeting alpha; `routerdc` serves the argmax of its predicted satisfactions "
        "(one routing for every alpha); `-hindsight` calibrates a per-alpha threshold on the "
        "test stream, `-train` on held-out training rows. Cost = total over the stream; "
        "satisfaction = final share of satisfied requests; mean ± std over seeds. * = uses "
        "hindsight (test labels or true accuracies)."
    )


# ------------------------------------------------------------------------------ command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--zoo",
        required=True,
        metavar="PATH|NAME",
        help="a log CSV or folder (MESS+, RouterBench, RouteLLM with --price/--prices) or a zoo "
        "name (llama3, qwen2, llama3+qwen2)",
    )
    add_log_arguments(parser)
    parser.add_argument(
        "--task",
        action="append",
        default=None,
        metavar="TASK",
        help="evaluate this task (repeatable; default: every task of the zoo)",
    )
    parser.add_argument(
        "--alpha",
        action="append",
        default=None,
        metavar="A|TASK=A,...|paper",
        help="SLA target: one for every task (--alpha 0.8), per task (--alpha boolq=0.8,"
        "piqa=0.75; a plain value covers the rest), or 'paper' (the paper's per-task targets)",
    )
    parser.add_argument(
        "--stream",
        choices=STREAMS,
        default="tasks",
        help="tasks: one stream per task (default); mixed: all tasks shuffled into one stream, "
        "one alpha",
    )
    parser.add_argument(
        "--method",
        action="append",
        default=None,
        metavar="NAME[,NAME]",
        help="only these methods (repeatable or comma-separated; 'single' = every single-model "
        f"row); default: all. Known: {', '.join(m.name for m in METHODS)}, single-<model>",
    )
    parser.add_argument(
        "--seeds", type=int, default=3, help="number of seeds, from 42 upward (default: 3)"
    )
    parser.add_argument(
        "--V",
        type=float,
        default=None,
        dest="V",
        help=f"MESS+'s V (default: {DEFAULT_RELATIVE_V:g} relative to the largest estimated "
        "cost, the paper's trade-off in any cost unit; with --absolute-V: 1e-4 per cost unit)",
    )
    parser.add_argument(
        "--absolute-V",
        action="store_true",
        help="V in the cost's own unit, as in the paper (its V = 1e-4 is tuned to joules)",
    )
    parser.add_argument(
        "--c", type=float, default=DEFAULT_C, help="exploration constant c (default: 0.1)"
    )
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=DEFAULT_TRAIN_FRACTION,
        help="share of the stream the offline routers train on when there are no other tasks "
        f"to train on (default: {DEFAULT_TRAIN_FRACTION})",
    )
    parser.add_argument(
        "--featurizer",
        choices=("minilm", "hash"),
        default=None,
        help="request embeddings (default: minilm if its weights are installed, else hash)",
    )
    parser.add_argument(
        "--cache-dir", default=None, help="feature cache (default: $MESSJAX_CACHE_DIR or ~/.cache)"
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default: runs/evaluate-<zoo>)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into the output folder even if it holds files messjax did not write",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    # Hidden options to shrink the run (tests).
    parser.add_argument("--max-requests", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--router-steps", type=int, default=None, help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    from messjax.baselines import RouterTraining
    from messjax.commands.reproduce import default_featurizer, markdown, plot_task, write_csv
    from messjax.errors import ConfigError
    from messjax.fileio import claim_output_dir
    from messjax.metrics import cost_column, cost_display
    from messjax.paper import PAPER_V, first_seeds
    from messjax.runs.experiment import table_features

    t_start = time.perf_counter()
    if args.seeds < 1:
        raise ConfigError("seeds", f"must be >= 1, got {args.seeds}")
    if args.V is not None and not (np.isfinite(args.V) and args.V >= 0):
        raise ConfigError("V", f"must be a finite number >= 0, got {args.V}")
    if not (np.isfinite(args.c) and args.c >= 0):
        raise ConfigError("c", f"must be a finite number >= 0, got {args.c}")
    if not args.alpha:
        raise ConfigError(
            "alpha",
            "give the SLA target: --alpha A (every task) or --alpha TASK=A,... "
            "(per task) or --alpha paper",
        )
    alphas = Alphas.parse(args.alpha)
    seeds = tuple(first_seeds(args.seeds))
    table = load(args, args.zoo, NAME)
    if args.max_requests:
        keep = [np.flatnonzero(table.tasks == t)[: args.max_requests] for t in table.task_names]
        table = table.take(np.sort(np.concatenate(keep)))
    methods = select_methods(args.method, table.models)
    tasks = list(dict.fromkeys(args.task)) if args.task else list(table.task_names)
    if alphas.paper and alphas.default is None and not args.task:
        # like reproduce: the tasks the paper (or --alpha TASK=A) gives a target
        has = set(alphas.per_task) | set(_paper_alphas(args.zoo))
        tasks = [t for t in tasks if t in has] or tasks
    streams = build_streams(
        table,
        tasks,
        alphas,
        args.stream,
        args.zoo,
        train_fraction=args.train_fraction,
        split_seed=seeds[0],
    )
    relative = 0 if args.absolute_V else 1
    V = args.V if args.V is not None else (PAPER_V if args.absolute_V else DEFAULT_RELATIVE_V)
    featurizer = args.featurizer or default_featurizer(
        lambda m: print(m.replace("reproduce", NAME), file=sys.stderr)
    )
    name = table.name
    out = Path(args.out or f"runs/evaluate-{Path(name).name}")
    output = claim_output_dir(out, NAME, force=args.force)

    print(
        f"messjax evaluate: zoo {name} ({len(table)} requests, "
        f"{_n(len(table.task_names), 'task')}, "
        f"{table.num_models} models, cost unit {table.cost_unit}"
        + (f", {table.dropped_rows} incomplete requests dropped" if table.dropped_rows else "")
        + f"), {'one mixed stream' if args.stream == MIXED else _n(len(streams), 'task stream')}, "
        f"seeds {list(seeds)}, V {V:g} {'relative' if relative else f'per {table.cost_unit}'}, "
        f"featurizer {featurizer}"
    )
    t0 = time.perf_counter()
    x = table_features(table, featurizer, cache_dir=args.cache_dir, progress=True)
    print(f"  features {x.shape} in {time.perf_counter() - t0:.0f} s")
    training = RouterTraining(**({"steps": args.router_steps} if args.router_steps else {}))
    settings = Settings(
        V=V,
        relative_V=relative,
        c=args.c,
        seeds=seeds,
        training=training,
        methods=tuple(methods) if methods else None,
    )
    rows, _ = evaluate(table, streams, x, settings)

    col = cost_column(table.cost_unit)
    unit = cost_display(table.cost_unit)[1]
    labels = list(dict.fromkeys(label for _, label in streams))
    meta = dict(
        zoo=name,
        scenario=f"{args.stream} stream{'s' * (args.stream != MIXED)}",
        V=V,
        relative_V=relative,
        c=args.c,
        seeds=list(seeds),
        featurizer=featurizer,
        feedback_rate=1.0,
        cost_column=col,
        cost_label=unit,
        cost_unit=table.cost_unit,
        paper=False,
        stream_text=(
            f"all {len(tasks)} tasks shuffled into one stream"
            if args.stream == MIXED
            else "one per task, each shuffled per seed"
        ),
        training_text="; ".join(labels),
        title=f"# messjax evaluate — zoo `{name}`, "
        + ("one mixed stream" if args.stream == MIXED else "one stream per task"),
    )
    meta["settings"] = _settings_text(meta)
    write_csv(rows, output.file("table.csv"))
    if not args.no_figures:
        for spec, _ in streams:
            figure = re.sub(r"[^\w.+=-]", "_", spec.name) + ".png"  # task names from the logs
            plot_task(rows, spec.name, output.file(f"figures/{figure}"), meta)
    meta.update(wall_s=time.perf_counter() - t_start, host=f"{os.cpu_count()} CPU cores")
    output.write_text("table.md", markdown(rows, table.models, meta))
    print()
    print(console_table(rows, col, unit))
    print()
    print(
        f"wrote {out / 'table.csv'}, {out / 'table.md'}"
        + ("" if args.no_figures else f", {out / 'figures'}/*.png")
        + f" in {meta['wall_s']:.0f} s"
    )
    return 0


def _n(k: int, what: str) -> str:
    return f"{k} {what}{'s' * (k != 1)}"
