"""Every routing method on a zoo's streams, on the same request orders: ``messjax evaluate``,
and ``messjax reproduce`` (evaluate with the paper's settings).

:func:`evaluate` runs every method of :data:`~messjax.runs.eval_setup.METHODS` on each stream
(:func:`~messjax.runs.eval_setup.build_streams`): MESS+ through
:func:`messjax.runs.experiment.sweep_table`, the project's own policy
(:mod:`messjax.core.policy`) and every baseline of :mod:`messjax.baselines`. :func:`write_run`
is the one path both commands take: features, the table, ``DIR/table.csv`` (one row per
stream x method), ``DIR/table.md`` and a cost-vs-satisfaction figure per stream,
``DIR/figures/<stream>.png`` (:mod:`messjax.outputs.method_table`).

- :func:`evaluate_logs` (``messjax evaluate``): your own logs, your alphas; MESS+ with
  ``relative_V = 1`` (the argmin weighs ``V * E_hat[m] / max_m E_hat[m]``, so multiplying every
  cost by a constant changes no decision) at V = :data:`DEFAULT_RELATIVE_V`, which equals the
  paper's trade-off on its logs; ``absolute_V`` restores the paper's V in the cost's own unit.
- :func:`reproduce` (``messjax reproduce``): the paper's zoos, alphas, absolute V = 1e-4
  J^-1, c = 0.1, seeds from 42 (MESSPLUS.md section 6), ``last_explore`` cost estimate, MLP
  head, the authors' per-task predictor presets; scenarios ``main``, ``chain`` (ARC-Challenge,
  PIQA, WinoGrande concatenated, each segment shuffled per seed; alpha = 0.67 as in the
  authors' notebook for the paper's chain and alphas, else the request-weighted mean of the
  tasks' alphas) and ``sparse`` (feedback on 20% of requests; the predictor trains on every
  exploration as in the authors' simulator, ``sparse_training`` chooses, and the other rule is
  reported as an extra row ``messplus-<rule>``). Its tables carry no ``offline_training``
  column (the offline routers train on the other tasks).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from messjax.baselines import MethodResult, RouterTraining, from_sweep, run_baselines
from messjax.core import policy
from messjax.core.names import SPARSE_TRAINING
from messjax.core.sweep import make_grid, run_sweep
from messjax.errors import ConfigError, did_you_mean
from messjax.features import find_weights
from messjax.fileio import claim_output_dir, safe_filename
from messjax.metrics import add_relative_costs, cost_column, cost_display, method_row
from messjax.outputs.method_table import (
    console_table,
    evaluate_settings_text,
    markdown,
    plot_task,
    write_csv,
)
from messjax.paper import PAPER_C, PAPER_V, first_seeds
from messjax.runs.eval_setup import (
    CHAIN,
    DEFAULT_C,
    DEFAULT_RELATIVE_V,
    DEFAULT_TRAIN_FRACTION,
    MIXED,
    SPARSE_TRAINING_DEFAULT,
    TASKS,
    Alphas,
    StreamSpec,
    build_streams,
    first_requests,
    load_table,
    ordered_methods,
    paper_streams,
    select_methods,
)
from messjax.runs.experiment import engine_config, sweep_table, table_features


# ------------------------------------------------------------------------------ methods
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
) -> MethodResult:
    """MESS+ (paper defaults) on one stream, as a :class:`~messjax.baselines.MethodResult`
    (``sparse_training`` overrides the stream's rule; ``relative_V=1``, ``messjax evaluate``'s
    default, makes V unit-free: V * E_hat / max E_hat)."""
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


def run_messjax(table, x, spec: StreamSpec, seeds, **overrides) -> MethodResult:
    """messjax's own policy (:mod:`messjax.core.policy`, its one default setting) on one
    stream, same request orders as every other method; ``overrides`` set policy or shared
    hyperparameters (the ablation). When the stream's training rows are a split of it
    (``spec.train_is_split``) the policy starts from their labels (:func:`policy.warm_start`),
    the data the offline routers learn from."""
    pp_keys = {k: v for k, v in overrides.items() if k in policy.POLICY_PARAM_NAMES}
    hp_keys = {k: v for k, v in overrides.items() if k not in policy.POLICY_PARAM_NAMES}
    test = table.take(spec.test_index)
    hp = policy.default_hparams(alpha=spec.alpha, feedback_rate=spec.feedback_rate, **hp_keys)
    pp = policy.default_policy_params(**pp_keys)
    orders = spec.orders(seeds)
    cells = [dict(stream=0, seed=int(s), order=orders[int(s)], hp=hp, pp=pp) for s in seeds]
    warm = None
    if spec.train_is_split:
        train = table.take(spec.train_index)
        warm = (x[spec.train_index], train.labels, train.costs)
    summary, _ = policy.run_cells([(x[spec.test_index], test.labels, test.costs, warm)], cells)
    return MethodResult("messjax", float(spec.alpha), np.asarray(seeds), summary)


def evaluate_stream(
    table,
    x,
    spec: StreamSpec,
    seeds,
    *,
    V=1e-4,
    c=0.1,
    extra_V=(),
    training=None,
    relative_V=0,
    messjax=(),
) -> dict[str, MethodResult]:
    """Every method on one stream: ``{name: MethodResult}`` (MESS+ first, then messjax, with
    the leaves ``messjax`` (``(name, value)`` pairs) set)."""
    results = {"messplus": run_messplus(table, x, spec, seeds, V, c, relative_V=relative_V)}
    results["messjax"] = run_messjax(table, x, spec, seeds, **dict(messjax))
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


# ------------------------------------------------------------------------------ evaluation
@dataclasses.dataclass(frozen=True)
class Settings:
    """MESS+ settings of an evaluation: V (relative by default), c, seeds, offline training,
    the methods to keep (``None``: all), extra MESS+ rows at other V, and whether the table
    names each stream's offline training data (``offline_training`` column)."""

    V: float = DEFAULT_RELATIVE_V
    relative_V: int = 1
    c: float = DEFAULT_C
    seeds: tuple[int, ...] = (42, 43, 44)
    training: Any = None  # messjax.baselines.RouterTraining
    methods: tuple[str, ...] | None = None
    extra_V: tuple[float, ...] = ()
    name_training: bool = True
    messjax: tuple[tuple[str, float], ...] = ()  # the messjax policy's leaves set by the user


def paper_settings(seeds: Sequence[int], **kw: Any) -> Settings:
    """The paper's MESS+ settings (absolute V = 1e-4 J^-1, c = 0.1), ``reproduce``'s table."""
    return Settings(
        V=PAPER_V, relative_V=0, c=PAPER_C, seeds=tuple(seeds), name_training=False, **kw
    )


def evaluate(
    table,
    streams: Sequence[tuple[StreamSpec, str]],
    x: np.ndarray,
    settings: Settings = Settings(),
    *,
    log: Callable[[str], Any] = print,
) -> tuple[list[dict[str, Any]], dict[str, dict]]:
    """Rows of the table (one per stream x method) and the raw
    :class:`~messjax.baselines.MethodResult` per stream and method."""
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
            extra_V=settings.extra_V,
            training=settings.training,
            relative_V=settings.relative_V,
            messjax=settings.messjax,
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
        fixed = dict(task=spec.name) | (
            {"offline_training": label} if settings.name_training else {}
        )
        for n in names:
            rows.append(method_row(results[n], table.models, table.cost_unit, **fixed))
        summary = ", ".join(
            f"{n} {scale * results[n].summary.total_cost.mean():.4g} {unit} "
            f"{100 * results[n].summary.satisfaction.mean():.1f}%"
            for n in names
            if n in ("messplus", "messjax")
        )
        log(
            f"  {spec.name}: {len(spec.test_index)} requests, alpha {spec.alpha:g}, offline "
            f"routers: {label}{' (messjax starts from it)' if spec.train_is_split else ''}; "
            f"{summary} ({time.perf_counter() - t0:.0f} s)"
        )
    return add_relative_costs(rows, table.cost_unit), raw


def default_featurizer(command: str = "evaluate") -> str:
    """``minilm`` if its weights are installed, else ``hash`` (with a note on stderr)."""
    try:
        find_weights()
        return "minilm"
    except FileNotFoundError as e:
        print(
            f"messjax {command}: note: MiniLM weights not found ({e}); using --featurizer hash",
            file=sys.stderr,
        )
        return "hash"


def _n(k: int, what: str) -> str:
    return f"{k} {what}{'s' * (k != 1)}"


def write_run(
    table,
    streams: Sequence[tuple[StreamSpec, str]],
    settings: Settings,
    *,
    command: str,
    zoo: str,
    out: str | os.PathLike,
    meta: dict[str, Any],
    featurizer: str | None = None,
    cache_dir=None,
    force: bool = False,
    figures: bool = True,
) -> list[dict[str, Any]]:
    """The one path of ``evaluate`` and ``reproduce``: claim ``out``, embed the texts, run
    :func:`evaluate` and write ``table.csv``, the figures and ``table.md``; returns the rows.

    ``meta`` adds to the markdown's settings (``scenario``, and ``title``/``settings`` to replace
    the paper's heading and paragraph, a callable of the final meta for the paragraph;
    ``stream_text`` to describe the streams; ``paper`` to print the paper's numbers)."""
    t_start = time.perf_counter()
    out = Path(out)
    output = claim_output_dir(out, command, force=force)
    featurizer = featurizer or default_featurizer(command)
    V = f"{settings.V:g} {'relative' if settings.relative_V else f'per {table.cost_unit}'}"
    print(
        f"messjax {command}: zoo {zoo} ({len(table)} requests, "
        f"{_n(len(table.task_names), 'task')}, {table.num_models} models, cost unit "
        f"{table.cost_unit}"
        + (f", {table.dropped_rows} incomplete requests dropped" if table.dropped_rows else "")
        + f"), {meta.get('stream_text') or 'scenario ' + meta['scenario']} "
        f"({_n(len(streams), 'stream')}), seeds {list(settings.seeds)}, V {V}, "
        f"featurizer {featurizer}"
    )
    t0 = time.perf_counter()
    x = table_features(table, featurizer, cache_dir=cache_dir, progress=True)
    print(f"  features {x.shape} in {time.perf_counter() - t0:.0f} s")
    rows, _ = evaluate(table, streams, x, settings)

    col, unit = cost_column(table.cost_unit), cost_display(table.cost_unit)[1]
    meta = {
        **dict(
            zoo=zoo,
            V=settings.V,
            relative_V=settings.relative_V,
            c=settings.c,
            seeds=list(settings.seeds),
            featurizer=featurizer,
            feedback_rate=streams[0][0].feedback_rate,
            sparse_training=streams[0][0].sparse_training,
            cost_column=col,
            cost_label=unit,
            cost_unit=table.cost_unit,
            paper=False,
            training_text="; ".join(dict.fromkeys(label for _, label in streams)),
            messjax_set=", ".join(f"{k} = {v:g}" for k, v in settings.messjax),
        ),
        **meta,
    }
    if callable(meta.get("settings")):
        meta["settings"] = meta["settings"](meta)
    write_csv(rows, output.file("table.csv"))
    if figures:
        for spec, _ in streams:
            figure = safe_filename(spec.name) + ".png"  # task names from the logs
            plot_task(rows, spec.name, output.file(f"figures/{figure}"), meta)
    meta.update(wall_s=time.perf_counter() - t_start, host=f"{os.cpu_count()} CPU cores")
    output.write_text("table.md", markdown(rows, table.models, meta))
    print()
    print(console_table(rows, col, unit))
    print()
    print(
        f"wrote {out / 'table.csv'}, {out / 'table.md'}"
        + ("" if not figures else f", {out / 'figures'}/*.png")
        + f" in {meta['wall_s']:.0f} s"
    )
    return rows


# ------------------------------------------------------------------------------ entry points
def _check_seeds(seeds: int) -> tuple[int, ...]:
    if seeds < 1:
        raise ConfigError("seeds", f"must be >= 1, got {seeds}")
    return tuple(first_seeds(seeds))


def _training(router_steps: int | None) -> RouterTraining:
    return RouterTraining(**({"steps": router_steps} if router_steps else {}))


#: the shared hyperparameters messjax reads that ``--messjax-set`` may set too
MESSJAX_HPARAMS = ("V", "c", "learning_rate")


def parse_messjax_set(items: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """``KEY=VALUE`` strings -> ``((key, value), ...)``: keys are the policy's leaves
    (:data:`messjax.core.policy.POLICY_PARAM_NAMES`) or V, c, learning_rate (messjax's own,
    not MESS+'s); values are numbers >= 0 (``inf`` allowed). Anything else is a
    :class:`ConfigError` naming it."""
    known = (*policy.POLICY_PARAM_NAMES, *MESSJAX_HPARAMS)
    out: dict[str, float] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError("messjax-set", f"expected KEY=VALUE, got {item!r}")
        if key not in known:
            raise ConfigError(
                "messjax-set",
                f"unknown messjax parameter {key!r}{did_you_mean(key, known)}; "
                f"known: {', '.join(known)}",
            )
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError("messjax-set", f"{key}: not a number: {raw.strip()!r}") from None
        if not value >= 0:
            raise ConfigError("messjax-set", f"{key} must be a number >= 0, got {raw.strip()}")
        out[key] = value
    return tuple(out.items())


def evaluate_logs(
    load: Callable[[], Any],
    alpha: Sequence[str] | None,
    *,
    zoo: str,
    tasks: Sequence[str] | None = None,
    stream: str = TASKS,
    methods: Sequence[str] | None = None,
    seeds: int = 3,
    V: float | None = None,
    absolute_V: bool = False,
    c: float = DEFAULT_C,
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
    out: str | os.PathLike | None = None,
    max_requests: int | None = None,
    router_steps: int | None = None,
    messjax: Sequence[str] = (),
    **write: Any,
) -> list[dict[str, Any]]:
    """``messjax evaluate``: every method on the zoo ``load()`` returns (``zoo`` names it,
    for ``--alpha paper``), at the SLA targets ``alpha`` (``--alpha`` strings, see
    :class:`~messjax.runs.eval_setup.Alphas`); ``messjax``: ``KEY=VALUE`` strings setting the
    messjax policy's leaves (``--messjax-set``); ``write`` goes to :func:`write_run`
    (``featurizer``, ``cache_dir``, ``force``, ``figures``)."""
    seed_list = _check_seeds(seeds)
    messjax_set = parse_messjax_set(messjax)
    if V is not None and not (np.isfinite(V) and V >= 0):
        raise ConfigError("V", f"must be a finite number >= 0, got {V}")
    if not (np.isfinite(c) and c >= 0):
        raise ConfigError("c", f"must be a finite number >= 0, got {c}")
    if not alpha:
        raise ConfigError(
            "alpha",
            "give the SLA target: --alpha A (every task) or --alpha TASK=A,... "
            "(per task) or --alpha paper",
        )
    alphas = Alphas.parse(alpha)
    table = first_requests(load(), max_requests)
    chosen = select_methods(methods, table.models)
    if tasks:
        tasks = list(dict.fromkeys(tasks))
    else:
        tasks = alphas.default_tasks(table.task_names, zoo)
    streams = build_streams(
        table, tasks, alphas, stream, zoo, train_fraction=train_fraction, split_seed=seed_list[0]
    )
    settings = Settings(
        V=V if V is not None else (PAPER_V if absolute_V else DEFAULT_RELATIVE_V),
        relative_V=0 if absolute_V else 1,
        c=c,
        seeds=seed_list,
        training=_training(router_steps),
        methods=tuple(chosen) if chosen else None,
        messjax=messjax_set,
    )
    name = table.name
    kind = {
        MIXED: ("one mixed stream", f"all {len(tasks)} tasks shuffled into one stream"),
        CHAIN: ("one chained stream", f"the {len(tasks)} tasks in a row, each shuffled per seed"),
    }.get(stream, ("one stream per task", "one per task, each shuffled per seed"))
    meta = dict(
        scenario=f"{stream} stream{'s' * (stream == TASKS)}",
        stream_text=kind[1],
        title=f"# messjax evaluate — zoo `{name}`, {kind[0]}",
        settings=evaluate_settings_text,  # the paragraph, once the featurizer is known
    )
    out = out or f"runs/evaluate-{Path(name).name}"
    return write_run(
        table, streams, settings, command="evaluate", zoo=name, out=out, meta=meta, **write
    )


def reproduce(
    zoo: str = "llama3",
    *,
    data_dir: str | None = None,
    seeds: int = 3,
    scenario: str = "main",
    sparse_training: str = SPARSE_TRAINING_DEFAULT,
    tasks: Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
    max_requests: int | None = None,
    router_steps: int | None = None,
    extra_V: Sequence[float] = (),
    **write: Any,
) -> list[dict[str, Any]]:
    """``messjax reproduce``: evaluate with the paper's settings (see the module docstring) on
    a zoo name, a MESS+ log folder or ``synthetic[:<preset>]``; default output folder
    ``results/<zoo>[-<scenario>]``; ``write`` goes to :func:`write_run`."""
    seed_list = _check_seeds(seeds)
    table, name = load_table(zoo, data_dir, max_requests)
    streams = paper_streams(table, name, scenario, tasks, sparse_training)
    settings = paper_settings(seed_list, training=_training(router_steps), extra_V=tuple(extra_V))
    paper = name == "llama3" and scenario == "main" and not max_requests
    every = Alphas(paper=True).default_tasks(table.task_names, name)  # the main streams' tasks
    meta = dict(
        scenario=scenario,
        paper=paper,
        # the paper's mean is over its 8 tasks: not shown beside the mean of a subset
        paper_mean=paper and {sp.name for sp, _ in streams} == set(every),
    )
    out = out or f"results/{name}{'' if scenario == 'main' else f'-{scenario}'}"
    rows = write_run(
        table, streams, settings, command="reproduce", zoo=name, out=out, meta=meta, **write
    )
    return rows
