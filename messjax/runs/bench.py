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
import os
import platform
import time
from typing import Any

import jax
import numpy as np

from messjax.core import sweep
from messjax.core.fast import coins
from messjax.core.sweep import Grid, run_sweeps
from messjax.core.types import EngineConfig
from messjax.errors import MessjaxError
from messjax.runs import compile_cache
from messjax.runs.bench_loops import check_decisions, reference_style, time_numpy_loop
from messjax.runs.bench_plan import (
    FULL,
    QUICK,
    describe_device,
    encode,
    load_table,
    task_grid,
    use_cpu_devices,
)
from messjax.runs.bench_policy import messjax_section


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
def report_from_args(args: argparse.Namespace, log) -> dict[str, Any]:
    """The report of ``messjax bench`` (options of :mod:`messjax.runs.benchmarks`)."""
    use_cpu_devices(args.devices, log)
    return run_benchmark(
        args.data_dir,  # None: $MESSJAX_DATA_DIR
        quick=args.quick,
        repeats=args.repeats,
        cache_dir=args.cache_dir,
        fresh_encode=args.fresh_encode,
        features=args.features,
        note=args.note,
        messjax_only=args.messjax_only,
        log=log,
    )
