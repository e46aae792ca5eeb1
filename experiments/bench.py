"""Throughput of the sweep engine on the paper's full Llama grid, against two loop baselines.

The grid (MESSPLUS.md section 6): the 8 benchmarks of the paper's tables
(:data:`messjax.paper.PAPER_TASKS`) x 3 seeds x 3 alphas x 4 V x 3 c = 864 episodes over the
Llama logs (about 1.42 million request-steps), with the paper's MLP head on frozen MiniLM
embeddings and the authors' per-task predictor settings (epochs, learning rate). One
invocation measures, on whatever machine runs it:

- ``encode_s``: the one-time text encoding (read from the feature cache when it is warm;
  ``--fresh-encode`` recomputes it). It is reported apart and not part of the grid time.
- the grid, all 8 tasks in one :func:`messjax.core.sweep.run_sweeps` call (one compilation):
  ``first_call_s`` (compile and run), ``run_s`` (best of ``--repeats`` further calls),
  ``compile_s = first_call_s - run_s``, ``requests_per_s`` and the time per phase (learner
  pass, routing pass, the rest on the host).
- the NumPy loop (:func:`messjax.core.reference.reference_episode`, one request at a time) on
  a subset (per task, one cell per c on the first requests of seed 42's order), in a fresh
  process with single-threaded BLAS (its fastest setting), extrapolated to the grid with the
  cost model ``time = a * requests + b * SGD steps`` fitted on the subset (exploration, hence
  training, is front-loaded, so per-request times do not scale).
- the loop in the style of the public MESS+ code: per request, encode its text with the frozen
  MiniLM encoder (batch of 1, jitted, compiled beforehand), then the NumPy step; run on a few
  requests per task and extrapolated (encoding per task x the task's request-steps, plus the
  NumPy loop's extrapolated time).
- ``decisions_match_numpy``: on every request of every subset cell the fast path serves the
  same model and explores as the NumPy loop, both in float64 (the parity the tests demand).
  The timed float32 path's agreement with the loop is reported too: near-ties of the argmin
  (e.g. Q = 0 in one precision, 1e-8 in the other) can part them.

Speedups are ratios of run times measured in the same invocation, compilation excluded.

    python experiments/bench.py --json results/bench_cpu.json
    messjax bench --json results/bench_cpu.json          # the same, as a subcommand
    messjax bench --quick                                 # a small grid, for tests
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from messjax.commands._common import data_dir
from messjax.commands.bench import add_arguments
from messjax.core import sweep
from messjax.core.fast import coins
from messjax.core.reference import draw_coins, reference_episode
from messjax.core.step import init_learner
from messjax.core.sweep import Grid, make_grid, request_order, run_sweeps
from messjax.core.types import EngineConfig
from messjax.data import load_zoo, synthetic_zoo
from messjax.data.table import RoutingTable
from messjax.errors import MessjaxError
from messjax.features import HashingFeaturizer, cache, featurize, get_featurizer
from messjax.features.minilm import bucket_length, find_weights, load_encoder
from messjax.paper import ALPHA_GRID, C_GRID, PAPER_TASKS, PAPER_V, SEEDS, V_GRID, predictor_preset
from messjax.runs import compile_cache

ZOO = "llama3"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one benchmark run covers (the full grid, or ``--quick``'s small one)."""

    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    V: tuple[float, ...]
    c: tuple[float, ...]
    alphas_per_task: int | None  # None: all of the paper's alphas
    max_requests: int | None  # per task; None: the whole benchmark
    numpy_requests: int  # requests per NumPy-loop subset cell
    numpy_repeats: int  # timed runs per subset cell (best counts)
    encode_requests: int  # requests per task for the reference-style loop
    repeats: int
    messjax_V: tuple[float, ...] = ()  # the messjax policy's V (relative-cost units)


#: messjax's V grid (unit-free; its default setting is V = 1), 4 values like the paper's
MESSJAX_V_GRID = (0.3, 1.0, 3.0, 10.0)
FULL = Plan(PAPER_TASKS, SEEDS, V_GRID, C_GRID, None, None, 300, 3, 5, 3, MESSJAX_V_GRID)
QUICK = Plan(("arc_challenge",), (42,), (1e-4, 1e-2), (0.01, 1.0), 2, 240, 120, 1, 4, 1, (1.0, 3.0))


def task_grid(task: str, plan: Plan) -> Grid:
    """The paper's grid for one task: seeds x alphas x V x c at the task's predictor preset."""
    epochs, lr, momentum = predictor_preset(task)
    alphas = ALPHA_GRID[ZOO][task]
    if plan.alphas_per_task is not None:
        alphas = alphas[: plan.alphas_per_task]
    return make_grid(
        list(plan.seeds),
        alpha=list(alphas),
        V=list(plan.V),
        c=list(plan.c),
        learning_rate=lr,
        epochs=epochs,
        momentum=momentum,
    )


# INPUTS ----------------------------------------------------------------------------------------
def load_table(data_root: str | None, plan: Plan, quick: bool) -> tuple[RoutingTable, str]:
    """The Llama logs (``quick`` falls back to the synthetic Llama zoo when they are absent)."""
    try:
        table, source = load_zoo(ZOO, data_root), f"{ZOO} logs"
    except MessjaxError:
        if not quick:
            raise
        n = plan.max_requests or 400
        table = synthetic_zoo(ZOO, tasks=list(plan.tasks), num_requests=n)
        source = f"synthetic {ZOO} zoo"
    if plan.max_requests is not None:
        keep = np.concatenate(
            [np.flatnonzero(table.tasks == t)[: plan.max_requests] for t in plan.tasks]
        )
        table = table.take(keep)
    return table, source


def encode(table: RoutingTable, *, cache_dir, fresh: bool, quick: bool):
    """``(X, encode_s, from_cache, featurizer)``: MiniLM features of every text of the table.

    Without the MiniLM weights ``quick`` uses 384-d hashed n-grams (same head shape) instead.
    """
    texts = list(table.texts)
    try:
        find_weights()
        featurizer = "minilm"
    except FileNotFoundError:
        if not quick:
            raise
        featurizer = HashingFeaturizer(dim=384)
    feat = get_featurizer(featurizer)
    root = Path(cache_dir) if cache_dir else cache.default_cache_dir()
    key = cache.cache_key(feat.name, feat.config(), texts)
    from_cache = not fresh and cache.entry_paths(root, feat.name, key)[0].exists()
    t0 = time.perf_counter()
    X = featurize(texts, featurizer, cache_dir=False if fresh else root, progress=False)
    name = featurizer if isinstance(featurizer, str) else f"hash{featurizer.dim}"
    return np.asarray(X, np.float32), time.perf_counter() - t0, from_cache, name


# THE GRID --------------------------------------------------------------------------------------
@contextlib.contextmanager
def phase_timer():
    """Time the learner and routing batches inside :func:`run_sweeps` (blocking on each)."""
    times: dict[str, float] = collections.defaultdict(float)
    names = ("_learner_batch", "_routing_batch")
    originals = {n: getattr(sweep, n) for n in names}

    def timed(name, fn):
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            out = jax.block_until_ready(fn(*args, **kwargs))
            times[name] += time.perf_counter() - t0
            return out

        return call

    for n, fn in originals.items():
        setattr(sweep, n, timed(n, fn))
    try:
        yield times
    finally:
        for n, fn in originals.items():
            setattr(sweep, n, fn)


def time_grid(streams, grids, config, repeats: int, log) -> dict[str, Any]:
    """First call (compile + run), then ``repeats`` timed calls and one call timed per phase."""

    def call():
        t0 = time.perf_counter()
        results = run_sweeps(streams, grids, config)
        jax.block_until_ready(results[-1].summary)
        return time.perf_counter() - t0, results

    first, results = call()
    log(f"grid: first call (compile + run) {first:.2f} s")
    runs = []
    for _ in range(max(repeats, 1)):
        dt, _ = call()
        runs.append(dt)
        log(f"grid: run {dt:.3f} s")
    with phase_timer() as phases:
        total, _ = call()
    learner, routing = phases["_learner_batch"], phases["_routing_batch"]
    return dict(
        first_call_s=first,
        runs_s=runs,
        run_s=min(runs),
        phases=dict(
            learner_pass_s=learner, routing_pass_s=routing, host_s=total - learner - routing
        ),
        results=results,
    )


def training_steps(stream_len: int, grid: Grid) -> np.ndarray:
    """SGD steps each cell of ``grid`` takes on a stream of ``stream_len`` requests."""
    draw = jax.jit(coins, static_argnums=3)
    hp = grid.hparams
    count: dict = {}
    out = np.empty(grid.size, np.int64)
    for i in range(grid.size):
        key = (int(grid.seeds[i]), float(hp.c[i]), float(hp.feedback_rate[i]))
        if key not in count:
            explore, feedback = draw(jax.random.PRNGKey(key[0]), key[1], key[2], stream_len)
            count[key] = int(np.sum(np.asarray(explore) & np.asarray(feedback)))
        out[i] = count[key] * int(hp.epochs[i])
    return out


# THE NUMPY LOOP ------------------------------------------------------------------------------
def subset(table, X, plan: Plan):
    """The NumPy loop's cells: per task, seed 42's order cut to its first requests, the middle
    alpha, the paper's V and every c of the plan. Returns ``(seed, streams, grids, cells)``
    with ``cells = [(task, stream index, cell index, hyperparameters)]``; make it under the
    x64 mode it runs in (the grids' hyperparameters take the default float type)."""
    seed = 42 if 42 in plan.seeds else plan.seeds[0]
    streams, grids, cells = [], [], []
    for task in plan.tasks:
        rows = np.flatnonzero(table.tasks == task)
        order = request_order(len(rows), seed)[: plan.numpy_requests]
        streams.append((X[rows][order], table.labels[rows][order], table.costs[rows][order]))
        alphas = ALPHA_GRID[ZOO][task]
        epochs, lr, momentum = predictor_preset(task)
        grids.append(
            make_grid(
                [seed],
                alpha=alphas[len(alphas) // 2],
                V=PAPER_V,
                c=list(plan.c),
                learning_rate=lr,
                epochs=epochs,
                momentum=momentum,
            )
        )
        leaves = dataclasses.asdict(grids[-1].hparams)
        for i in range(grids[-1].size):
            hp = {k: np.asarray(v)[i].item() for k, v in leaves.items()}
            cells.append((task, len(streams) - 1, i, hp))
    return seed, streams, grids, cells


def numpy_loop(seed, streams, cells, config, repeats: int = 0) -> list[dict[str, Any]]:
    """:func:`reference_episode` on every subset cell; with ``repeats`` > 0 also its best time.

    The randomness is drawn before the clock starts, as
    :func:`messjax.core.reference.numpy_loop_seconds_per_request` does.
    """
    key = jax.random.PRNGKey(seed)
    init_params = init_learner(key, config).params
    runs = []
    for n, (task, s, _, hp) in enumerate(cells):
        x, labels, costs = streams[s]
        drawn = draw_coins(key, len(labels), hp, config)
        ref = reference_episode(x, labels, costs, hp, key, init_params, config, coins=drawn)
        if repeats and n == 0:  # NumPy's first calls are slower
            reference_episode(x, labels, costs, hp, key, init_params, config, coins=drawn)
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            reference_episode(x, labels, costs, hp, key, init_params, config, coins=drawn)
            best = min(best, time.perf_counter() - t0)
        steps = int(np.sum(ref["explore"] & ref["feedback"])) * int(hp["epochs"])
        runs.append(
            dict(
                task=task,
                c=hp["c"],
                requests=len(labels),
                sgd_steps=steps,
                s=best,
                model=ref["model"],
                explore=ref["explore"],
            )
        )
    return runs


def fast_decisions(seed, streams, grids, cells, config) -> list[tuple[np.ndarray, np.ndarray]]:
    """(served model, explored) per request of every subset cell, from the fast path's
    per-request trace."""
    identity = [{seed: np.arange(len(labels))} for _, labels, _ in streams]  # already in order
    results = run_sweeps(streams, grids, config, trace_every=1, orders=identity)
    out = []
    for _, s, i, _ in cells:
        served = np.asarray(results[s].trace.served_counts[i])  # [T, M] running counts
        explored = np.asarray(results[s].trace.explore_count[i])
        out.append(
            (
                np.argmax(np.diff(served, axis=0, prepend=0), axis=1),
                np.diff(explored, prepend=0) > 0,
            )
        )
    return out


def agreement(cells, runs, decisions) -> tuple[float, list[str]]:
    """Share of subset requests with the same model and exploration, and where they part."""
    agree = total = 0
    parted = []
    for (task, *_), run, (model, explore) in zip(cells, runs, decisions, strict=True):
        same = (model == run["model"]) & (explore == run["explore"])
        agree, total = agree + int(same.sum()), total + len(same)
        if not same.all():
            parted.append(f"{task} c={run['c']:.3g}: from request {int(np.argmin(same)) + 1}")
    return agree / max(total, 1), parted


def fit_cost_model(runs) -> tuple[float, float]:
    """(a, b) >= 0 of ``time = a * requests + b * SGD steps``, least squares in relative error
    (every cell counts, the short ones with no training pin ``a``)."""
    A = np.array([[r["requests"], r["sgd_steps"]] for r in runs], float)
    y = np.array([r["s"] for r in runs])
    A, y = A / y[:, None], np.ones_like(y)
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    if a < 0:
        a, b = 0.0, float(A[:, 1] @ y / (A[:, 1] @ A[:, 1]))
    elif b < 0:
        a, b = float(A[:, 0] @ y / (A[:, 0] @ A[:, 0])), 0.0
    return float(a), float(b)


def _run_worker(mode: str, name: str, spec: dict, streams, inp: Path, out: Path) -> None:
    """Run this script as ``mode`` in a fresh process on the subset (``spec`` + the streams'
    ``x``, ``labels``, ``costs`` saved to ``inp``), with single-threaded BLAS; it writes
    ``out``."""
    arrays = {f"{k}{i}": a for i, st in enumerate(streams) for k, a in zip("xlc", st, strict=True)}
    np.savez(inp, spec=json.dumps(spec), **arrays)
    threads = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), mode, str(inp), str(out)],
        env={**os.environ, **threads},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the {name} worker failed:\n{proc.stderr[-3000:]}")


def time_numpy_loop(table, X, plan: Plan, config: EngineConfig, log) -> dict[str, Any]:
    """Time the NumPy loop on the subset and fit its cost model (``a`` s per request, ``b`` s
    per SGD step).

    It runs in a fresh worker process with single-threaded BLAS: the loop's products are tiny,
    so BLAS threads only add overhead, and on a shared CPU they made the loop's training steps
    up to 20 times slower at times, which would flatter the engine.
    """
    seed, streams, _, cells = subset(table, X, plan)
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "subset.npz", Path(tmp) / "runs.npz"
        spec = dict(
            seed=seed,
            repeats=plan.numpy_repeats,
            config=dataclasses.asdict(config),
            cells=[[task, s, hp] for task, s, _, hp in cells],
        )
        _run_worker(WORKER, "NumPy-loop", spec, streams, inp, out)
        with np.load(out) as data:
            runs = json.loads(str(data["runs"]))
            for i, run in enumerate(runs):
                run["model"], run["explore"] = data[f"model{i}"], data[f"explore{i}"]
    a, b = fit_cost_model(runs)
    result = dict(
        a=a,
        b=b,
        cells=len(runs),
        requests=sum(r["requests"] for r in runs),
        sgd_steps=sum(r["sgd_steps"] for r in runs),
        seconds=sum(r["s"] for r in runs),
        runs=runs,
    )
    log(
        f"numpy loop: {result['cells']} cells, {result['requests']} requests, "
        f"{result['sgd_steps']} SGD steps in {result['seconds']:.2f} s -> {a * 1e6:.1f} "
        f"us/request + {b * 1e6:.0f} us/SGD step"
    )
    return result


WORKER = "--numpy-loop-worker"
POLICY_WORKER = "--messjax-loop-worker"


def numpy_loop_worker(inp: str, out: str) -> int:
    """The worker process of :func:`time_numpy_loop`: subset in, timed runs out."""
    with np.load(inp) as data:
        spec = json.loads(str(data["spec"]))
        streams = [
            (data[f"x{i}"], data[f"l{i}"], data[f"c{i}"])
            for i in range(len({s for _, s, _ in spec["cells"]}))
        ]
    cells = [(task, s, None, hp) for task, s, hp in spec["cells"]]
    config = EngineConfig(**spec["config"])
    runs = numpy_loop(spec["seed"], streams, cells, config, repeats=spec["repeats"])
    arrays = {}
    for i, run in enumerate(runs):
        arrays[f"model{i}"], arrays[f"explore{i}"] = run.pop("model"), run.pop("explore")
    np.savez(out, runs=json.dumps(runs), **arrays)
    return 0


def check_decisions(table, X, plan: Plan, config: EngineConfig, runs32, log) -> dict[str, Any]:
    """The fast path's decisions against the NumPy loop's on the subset: in float64 on both
    sides (identical decisions expected), and the timed float32 path against ``runs32``."""
    seed, streams, grids, cells = subset(table, X, plan)
    agree32, parted32 = agreement(
        cells, runs32, fast_decisions(seed, streams, grids, cells, config)
    )
    with jax.enable_x64(True):
        seed, streams, grids, cells = subset(table, X, plan)
        runs64 = numpy_loop(seed, streams, cells, config)
        agree64, parted64 = agreement(
            cells, runs64, fast_decisions(seed, streams, grids, cells, config)
        )
    log(
        f"decisions on the subset: float64 {agree64:.2%} identical, float32 (timed) "
        f"{agree32:.2%} (near-ties of the argmin may part float32 from float64)"
    )
    return dict(agree64=agree64, parted64=parted64, agree32=agree32, parted32=parted32)


# THE MESSJAX POLICY ----------------------------------------------------------------------------
def messjax_cells(table, X, plan: Plan, *, subset_requests: int | None = None):
    """The ``messjax`` policy's grid: tasks x seeds x alphas x ``plan.messjax_V`` x c at its
    default policy parameters (:func:`messjax.core.policy.default_policy_params`), each seed's
    request order as the sweep's (:func:`request_order`). With ``subset_requests`` the NumPy
    loop's subset instead: per task seed 42's order cut to its first requests, the middle
    alpha, V = 1 and every c. Returns ``(streams, cells)`` for
    :func:`messjax.core.policy.run_cells`; make it under the x64 mode it runs in."""
    from messjax.core import policy

    pp = policy.default_policy_params()
    streams, cells = [], []
    for i, task in enumerate(plan.tasks):
        rows = np.flatnonzero(table.tasks == task)
        alphas = ALPHA_GRID[ZOO][task]
        if subset_requests is None:
            streams.append((X[rows], table.labels[rows], table.costs[rows]))
            seeds = plan.seeds
            alphas = alphas if plan.alphas_per_task is None else alphas[: plan.alphas_per_task]
            Vs = plan.messjax_V
        else:
            seeds = (42 if 42 in plan.seeds else plan.seeds[0],)
            order = request_order(len(rows), seeds[0])[:subset_requests]
            streams.append((X[rows][order], table.labels[rows][order], table.costs[rows][order]))
            alphas, Vs = (alphas[len(alphas) // 2],), (1.0,)
        for seed in seeds:
            order = (
                request_order(len(rows), seed)
                if subset_requests is None
                else np.arange(len(streams[-1][1]))
            )
            for alpha, V, c in itertools.product(alphas, Vs, plan.c):
                hp = policy.default_hparams(alpha=alpha, V=V, c=c)
                cells.append(dict(stream=i, seed=int(seed), order=order, hp=hp, pp=pp, task=task))
    return streams, cells


def _run_messjax(streams, cells):
    """One :func:`messjax.core.policy.run_cells` call over every cell (one chunk: no padded
    cells, one compilation); returns its Summary (NumPy)."""
    from messjax.core import policy

    summary, _ = policy.run_cells(streams, cells, chunk_size=len(cells))
    return summary


def time_messjax_grid(streams, cells, repeats: int, log) -> dict[str, Any]:
    """First call (compile + run), then ``repeats`` timed calls; wall and process CPU time."""

    def call():
        t0, c0 = time.perf_counter(), time.process_time()
        summary = _run_messjax(streams, cells)
        return time.perf_counter() - t0, time.process_time() - c0, summary

    first, first_cpu, summary = call()
    log(f"messjax grid: first call (compile + run) {first:.2f} s (CPU {first_cpu:.1f} s)")
    runs, cpus = [], []
    for _ in range(max(repeats, 1)):
        dt, cpu, again = call()
        runs.append(dt)
        cpus.append(cpu)
        log(f"messjax grid: run {dt:.3f} s (CPU {cpu:.1f} s)")
        if not np.array_equal(again.served_counts, summary.served_counts):
            raise RuntimeError("the messjax grid is not deterministic across calls")
    return dict(
        first_call_s=first,
        first_call_cpu_s=first_cpu,
        runs_s=runs,
        run_s=min(runs),
        run_cpu_s=cpus[int(np.argmin(runs))],
        summary=summary,
    )


def time_messjax_loop(table, X, plan: Plan, log) -> dict[str, Any]:
    """The NumPy loop of messjax (:func:`reference_policy_episode` with NumPy's Beta sampler,
    the loop a NumPy user would write) on the subset, in a fresh worker process with
    single-threaded BLAS (as :func:`time_numpy_loop`); seconds per request."""
    streams, cells = messjax_cells(table, X, plan, subset_requests=plan.numpy_requests)
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "subset.npz", Path(tmp) / "runs.json"
        spec = dict(
            repeats=plan.numpy_repeats,
            cells=[[c["task"], c["stream"], c["seed"], _hp_dict(c)] for c in cells],
        )
        _run_worker(POLICY_WORKER, "messjax-loop", spec, streams, inp, out)
        runs = json.loads(out.read_text())
    requests = sum(r["requests"] for r in runs)
    seconds = sum(r["s"] for r in runs)
    cpu_seconds = sum(r["cpu_s"] for r in runs)
    log(
        f"messjax numpy loop: {len(runs)} cells, {requests} requests in {seconds:.2f} s -> "
        f"{seconds / requests * 1e6:.1f} us/request"
    )
    return dict(
        cells=len(runs), requests=requests, seconds=seconds, cpu_seconds=cpu_seconds, runs=runs
    )


def _hp_dict(cell) -> dict:
    from messjax.core import policy

    hp = {k: np.asarray(getattr(cell["hp"], k)).item() for k in ("alpha", "V", "c")}
    pp = {k: np.asarray(getattr(cell["pp"], k)).item() for k in policy.POLICY_PARAM_NAMES}
    return dict(hp=hp, pp=pp)


def messjax_loop_worker(inp: str, out: str) -> int:
    """The worker process of :func:`time_messjax_loop`: subset in, timed runs out."""
    from messjax.core.reference_policy import draw_policy_coins, reference_policy_episode

    with np.load(inp) as data:
        spec = json.loads(str(data["spec"]))
        streams = {s: (data[f"x{s}"], data[f"l{s}"], data[f"c{s}"]) for _, s, _, _ in spec["cells"]}
    runs = []
    for n, (task, s, seed, v) in enumerate(spec["cells"]):
        x, labels, costs = streams[s]
        key = jax.random.PRNGKey(seed)
        coins = draw_policy_coins(key, len(labels))

        def once(x=x, labels=labels, costs=costs, key=key, coins=coins, v=v):
            return reference_policy_episode(
                x, labels, costs, v["hp"], v["pp"], key, coins=coins, beta="numpy"
            )

        once()
        if n == 0:  # NumPy's first calls are slower
            once()
        best, best_cpu = np.inf, np.inf
        for _ in range(spec["repeats"]):
            t0, c0 = time.perf_counter(), time.process_time()
            once()
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        runs.append(dict(task=task, c=v["hp"]["c"], requests=len(labels), s=best, cpu_s=best_cpu))
    Path(out).write_text(json.dumps(runs))
    return 0


def check_messjax_decisions(table, X, plan: Plan, log) -> dict[str, Any]:
    """``run_cells`` against the NumPy loop of messjax (JAX's Beta draws) on the subset, both
    in float64: every request's served model, queried set and exploration must agree; checked
    through the Summary's counts and the final deficit (the engine keeps no per-request log)."""
    from messjax.core.reference_policy import reference_policy_episode

    with jax.enable_x64(True):
        streams, cells = messjax_cells(table, X, plan, subset_requests=plan.numpy_requests)
        summary = _run_messjax(streams, cells)
        agree, parted = 0, []
        for i, c in enumerate(cells):
            x, labels, costs = streams[c["stream"]]
            ref = reference_policy_episode(
                x, labels, costs, c["hp"], c["pp"], jax.random.PRNGKey(c["seed"])
            )["totals"]
            same = bool(
                np.array_equal(summary.served_counts[i], ref["served_counts"])
                and np.array_equal(summary.query_counts[i], ref["query_counts"])
                and int(summary.explore_count[i]) == ref["explore_count"]
                and np.isclose(summary.final_queue[i], ref["final_queue"], rtol=1e-9, atol=1e-9)
                and np.isclose(summary.total_cost[i], ref["total_cost"], rtol=1e-12)
            )
            agree += same
            if not same:
                parted.append(f"{c['task']} c={np.asarray(c['hp'].c).item():.3g}")
    log(f"messjax decisions on the subset (float64): {agree}/{len(cells)} cells identical")
    return dict(cells_identical=agree, cells=len(cells), parted=parted)


def messjax_section(table, X, plan: Plan, log) -> dict[str, Any]:
    """Everything ``messjax bench`` reports about the messjax policy (the ``messjax`` key)."""
    loop = time_messjax_loop(table, X, plan, log)
    streams, cells = messjax_cells(table, X, plan)
    steps = int(sum(len(streams[c["stream"]][1]) for c in cells))
    log(f"messjax grid: {len(cells)} episodes, {steps:,} request-steps")
    grid = time_messjax_grid(streams, cells, plan.repeats, log)
    check = check_messjax_decisions(table, X, plan, log)
    numpy_s_per_request = loop["seconds"] / loop["requests"]
    numpy_grid_s = numpy_s_per_request * steps
    run_s = grid["run_s"]
    summary = grid["summary"]
    alphas = np.array([np.asarray(c["hp"].alpha).item() for c in cells])
    return dict(
        episodes=len(cells),
        total_request_steps=steps,
        V_grid=list(plan.messjax_V),
        c_grid=list(plan.c),
        compile_s=grid["first_call_s"] - run_s,
        run_s=run_s,
        runs_s=grid["runs_s"],
        first_call_s=grid["first_call_s"],
        first_call_cpu_s=grid["first_call_cpu_s"],
        run_cpu_s=grid["run_cpu_s"],
        steps_per_s=steps / run_s,
        numpy_steps_per_s=1.0 / numpy_s_per_request,
        numpy_extrapolated_grid_s=numpy_grid_s,
        ratio=numpy_grid_s / run_s,
        # the same ratio in process CPU seconds (robust to other load on a shared machine)
        ratio_cpu=loop["cpu_seconds"] / loop["requests"] * steps / max(grid["run_cpu_s"], 1e-9),
        numpy_loop=dict(
            subset_cells=loop["cells"],
            subset_requests=loop["requests"],
            subset_s=loop["seconds"],
            subset_cpu_s=loop["cpu_seconds"],
            s_per_request=numpy_s_per_request,
            beta_sampler="numpy",
            blas_threads=1,
        ),
        decisions_match_numpy=bool(check["cells_identical"] == check["cells"]),
        decisions_float64_cells_identical=check["cells_identical"],
        decisions_float64_cells=check["cells"],
        decisions_float64_parted=check["parted"],
        mean_satisfaction=float(summary.satisfaction.mean()),
        share_meeting_alpha=float(np.mean(summary.satisfaction >= alphas)),
    )


# THE REFERENCE CODE'S STYLE --------------------------------------------------------------------
def reference_style(table, plan: Plan, config: EngineConfig, log) -> dict[str, Any]:
    """Per request: encode its text alone (batch of 1), then the NumPy step.

    The public MESS+ code re-encodes each request's text with the frozen encoder at every step
    of every episode. Here the encoder is jitted and compiled beforehand (a kinder baseline);
    the encodings and the NumPy loop over the same requests are timed apart and added.
    Returns per task the median encoding time of one request.
    """
    encoder = load_encoder(find_weights())
    seed = 42 if 42 in plan.seeds else plan.seeds[0]
    samples = {}
    for task in plan.tasks:
        rows = np.flatnonzero(table.tasks == task)
        samples[task] = rows[request_order(len(rows), seed)[: plan.encode_requests]]
    tokens = {r: encoder.tokenize([table.texts[r]])[0] for rows in samples.values() for r in rows}
    shapes = {bucket_length(len(t), encoder.max_seq_length) for t in tokens.values()}
    t0 = time.perf_counter()
    for length in sorted(shapes):  # compile and run every batch-of-1 shape before the clock
        ids = next(
            t for t in tokens.values() if bucket_length(len(t), encoder.max_seq_length) == length
        )
        encoder.run_batch([ids], 1, length)
    compile_s = time.perf_counter() - t0

    per_task, encode_total, numpy_total, n_total = {}, 0.0, 0.0, 0
    key = jax.random.PRNGKey(seed)
    init_params = init_learner(key, config).params
    for task, rows in samples.items():
        epochs, lr, momentum = predictor_preset(task)
        alphas = ALPHA_GRID[ZOO][task]
        hp = dict(
            alpha=alphas[len(alphas) // 2],
            V=PAPER_V,
            c=max(plan.c),
            learning_rate=lr,
            epochs=epochs,
            momentum=momentum,
        )
        xs, t_enc = [], []
        for r in rows:
            t1 = time.perf_counter()
            ids = encoder.tokenize([table.texts[r]])[0]
            length = bucket_length(len(ids), encoder.max_seq_length)
            xs.append(encoder.run_batch([ids], 1, length)[0])
            t_enc.append(time.perf_counter() - t1)
        drawn = draw_coins(key, len(rows), hp, config)
        t1 = time.perf_counter()
        reference_episode(
            np.stack(xs),
            table.labels[rows],
            table.costs[rows],
            hp,
            key,
            init_params,
            config,
            coins=drawn,
        )
        t_np = time.perf_counter() - t1
        per_task[task] = float(np.median(t_enc))
        encode_total += sum(t_enc)
        numpy_total += t_np
        n_total += len(rows)
    log(
        f"reference style: {n_total} requests, encode {encode_total / n_total * 1e3:.1f} "
        f"ms/request (batch of 1, mean), NumPy step {numpy_total / n_total * 1e3:.2f} ms/request "
        f"(first requests: mostly explorations); {len(shapes)} shapes compiled in {compile_s:.1f} s"
    )
    return dict(
        requests=n_total,
        encode_s_per_request=encode_total / n_total,
        encode_s_per_request_median_by_task=per_task,
        numpy_s_per_request_measured=numpy_total / n_total,
        encoder_compile_s=compile_s,
    )


# THE WHOLE RUN ---------------------------------------------------------------------------------
def describe_device() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    devices = jax.devices()
    kind = devices[0].device_kind if devices[0].platform != "cpu" else cpu
    return f"{devices[0].platform}: {kind}, {os.cpu_count()} cores, {len(devices)} XLA device(s)"


def run_benchmark(
    data_root: str | None = None,
    *,
    quick: bool = False,
    repeats: int | None = None,
    cache_dir=None,
    fresh_encode: bool = False,
    features: str | None = None,
    note: str | None = None,
    messjax_only: bool = False,
    log=print,
) -> dict[str, Any]:
    """Run every measurement and return the JSON-ready report (see the module docstring)."""
    plan = QUICK if quick else FULL
    if repeats is not None:
        plan = dataclasses.replace(plan, repeats=repeats)
    t_start = time.perf_counter()
    table, source = load_table(data_root, plan, quick)
    if features is None:
        X, encode_s, from_cache, featurizer = encode(
            table, cache_dir=cache_dir, fresh=fresh_encode, quick=quick
        )
    else:  # precomputed (e.g. on an accelerator machine without the encoder weights)
        X, encode_s, from_cache, featurizer = np.load(features), None, True, "minilm (precomputed)"
        if X.shape[0] != len(table):
            raise MessjaxError(f"--features {features}: {X.shape[0]} rows for {len(table)} texts")
    log(
        f"{source}: {len(table)} texts encoded ({featurizer}) in {encode_s or 0:.2f} s"
        f"{' (feature cache)' if from_cache else ''}"
    )
    config = EngineConfig(num_models=table.num_models, feature_dim=X.shape[1], head="mlp")
    if messjax_only:
        return dict(
            device=describe_device(),
            messjax=messjax_section(table, X, plan, log),
            encode_s=encode_s,
            encode_from_cache=from_cache,
            featurizer=featurizer,
            data=source,
            quick=quick,
            tasks=list(plan.tasks),
            jax_version=jax.__version__,
            xla_devices=jax.local_device_count(),
            cpu_count=os.cpu_count(),
            python=platform.python_version(),
            bench_wall_s=time.perf_counter() - t_start,
            **({"note": note} if note else {}),
        )

    # THE NUMPY LOOP, first (see time_numpy_loop)
    numpy = time_numpy_loop(table, X, plan, config, log)

    # THE GRID
    streams, grids = [], []
    for task in plan.tasks:
        rows = np.flatnonzero(table.tasks == task)
        streams.append((X[rows], table.labels[rows], table.costs[rows]))
        grids.append(task_grid(task, plan))
    lengths = [len(s[1]) for s in streams]
    episodes = sum(g.size for g in grids)
    request_steps = sum(n * g.size for n, g in zip(lengths, grids, strict=True))
    log(f"grid: {len(plan.tasks)} tasks, {episodes} episodes, {request_steps:,} request-steps")
    grid = time_grid(streams, grids, config, plan.repeats, log)
    # Compile time cold and warm, each in a fresh process sharing a new cache folder.
    compile_cache_times = compile_cache.measure_cold_warm(
        streams, grids, config, num_devices=jax.local_device_count(), log=log
    )
    sgd_steps = int(sum(training_steps(n, g).sum() for n, g in zip(lengths, grids, strict=True)))
    numpy_grid_s = numpy["a"] * request_steps + numpy["b"] * sgd_steps

    # DECISIONS AND THE REFERENCE CODE'S STYLE
    numpy.update(check_decisions(table, X, plan, config, numpy.pop("runs"), log))
    try:
        ref = reference_style(table, plan, config, log)
    except FileNotFoundError as e:  # no MiniLM weights (only --quick gets this far)
        ref, ref_grid_s = dict(skipped=str(e)), None
    else:
        per_task = ref["encode_s_per_request_median_by_task"]
        encode_grid_s = sum(
            per_task[t] * n * g.size for t, n, g in zip(plan.tasks, lengths, grids, strict=True)
        )
        ref_grid_s = encode_grid_s + numpy_grid_s
        ref["extrapolated_grid_s"] = ref_grid_s

    # THE MESSJAX POLICY on the same grid shape (issue 11)
    messjax = messjax_section(table, X, plan, log)

    run_s = grid["run_s"]
    report = dict(
        device=describe_device(),
        compile_s=grid["first_call_s"] - run_s,
        compile_cold_s=compile_cache_times["compile_cold_s"],
        compile_warm_s=compile_cache_times["compile_warm_s"],
        compile_cache=dict(
            this_process=str(jax.config.jax_compilation_cache_dir or "off"),
            **compile_cache_times,
        ),
        run_s=run_s,
        first_call_s=grid["first_call_s"],
        requests_per_s=request_steps / run_s,
        numpy_loop_requests_per_s=request_steps / numpy_grid_s,
        speedup_vs_numpy_loop=numpy_grid_s / run_s,
        speedup_vs_reference_style=None if ref_grid_s is None else ref_grid_s / run_s,
        decisions_match_numpy=numpy["agree64"] == 1.0,
        encode_s=encode_s,
        encode_from_cache=from_cache,
        featurizer=featurizer,
        data=source,
        quick=quick,
        tasks=list(plan.tasks),
        episodes=episodes,
        total_request_steps=request_steps,
        total_sgd_steps=sgd_steps,
        runs_s=grid["runs_s"],
        phases_s=grid["phases"],
        numpy_loop=dict(
            subset_cells=numpy["cells"],
            subset_requests=numpy["requests"],
            subset_sgd_steps=numpy["sgd_steps"],
            subset_s=numpy["seconds"],
            s_per_request=numpy["a"],
            s_per_sgd_step=numpy["b"],
            blas_threads=1,
            extrapolated_grid_s=numpy_grid_s,
            decisions_float64_agreement=numpy["agree64"],
            decisions_float64_parted=numpy["parted64"],
            decisions_float32_agreement=numpy["agree32"],
            decisions_float32_parted=numpy["parted32"],
        ),
        reference_style=ref,
        messjax=messjax,
        jax_version=jax.__version__,
        xla_devices=jax.local_device_count(),
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        bench_wall_s=time.perf_counter() - t_start,
    )
    if note:
        report["note"] = note
    return report


# COMMAND LINE ----------------------------------------------------------------------------------
def use_cpu_devices(n: int | None, log=print) -> None:
    """Split the host CPU into ``n`` XLA devices (default: one per core), so that
    :func:`run_sweeps` shards the learner trajectories over the cores. Must run before JAX's
    backend starts; has no effect on accelerators."""
    n = n or os.cpu_count() or 1
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as e:  # the backend is already up
        log(f"keeping {jax.local_device_count()} device(s): {e}")


def run_from_args(args: argparse.Namespace) -> int:
    log = lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True)  # noqa: E731
    use_cpu_devices(args.devices, log)
    report = run_benchmark(
        data_dir(args),
        quick=args.quick,
        repeats=args.repeats,
        cache_dir=args.cache_dir,
        fresh_encode=args.fresh_encode,
        features=args.features,
        note=args.note,
        messjax_only=args.messjax_only,
        log=log,
    )
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        from messjax.fileio import atomic_write_text

        atomic_write_text(args.json, text + "\n")
        log(f"wrote {args.json}")
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [WORKER]:
        return numpy_loop_worker(*argv[1:3])
    if argv[:1] == [POLICY_WORKER]:
        return messjax_loop_worker(*argv[1:3])
    compile_cache.enable()  # as the messjax CLI does
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)  # the same options as ``messjax bench``
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
