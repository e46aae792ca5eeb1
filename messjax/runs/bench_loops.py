"""The loops ``messjax bench`` times the engine against (:mod:`messjax.runs.bench`).

- the NumPy loop (:func:`messjax.core.reference.reference_episode`, one request at a time) on
  a subset of the grid, in a fresh process with single-threaded BLAS, and its cost model
  ``time = a * requests + b * SGD steps``; the fast path's decisions against it on the subset;
- the loop in the style of the public MESS+ code: per request, encode its text with the frozen
  MiniLM encoder (batch of 1, jitted, compiled beforehand), then the NumPy step.

The worker processes run this module: ``python -m messjax.runs.bench_loops`` (and
:mod:`messjax.runs.bench_policy` for the messjax policy's loop).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from messjax.core.reference import draw_coins, reference_episode
from messjax.core.step import init_learner
from messjax.core.sweep import make_grid, request_order, run_sweeps
from messjax.core.types import EngineConfig
from messjax.features.minilm import bucket_length, find_weights, load_encoder
from messjax.paper import ALPHA_GRID, PAPER_V, predictor_preset
from messjax.runs.bench_plan import ZOO, Plan


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

    The randomness is drawn before the clock starts (it is JAX's work, not the loop's).
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


def run_worker(module: str, mode: str, name: str, spec: dict, streams, inp: Path, out: Path):
    """Run ``python -m module mode inp out`` in a fresh process on the subset (``spec`` + the
    streams' ``x``, ``labels``, ``costs`` saved to ``inp``), with single-threaded BLAS; it
    writes ``out``."""
    arrays = {f"{k}{i}": a for i, st in enumerate(streams) for k, a in zip("xlc", st, strict=True)}
    np.savez(inp, spec=json.dumps(spec), **arrays)
    threads = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    proc = subprocess.run(
        [sys.executable, "-m", module, mode, str(inp), str(out)],
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
        run_worker(__name__, WORKER, "NumPy-loop", spec, streams, inp, out)
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


if __name__ == "__main__":
    if sys.argv[1:2] != [WORKER]:
        sys.exit(f"usage: python -m messjax.runs.bench_loops {WORKER} IN.npz OUT.npz")
    sys.exit(numpy_loop_worker(*sys.argv[2:4]))
