"""The ``messjax`` policy's part of ``messjax bench`` (the report's ``messjax`` key): its grid
on the paper grid's shape, its NumPy loop in a fresh process (``python -m
messjax.runs.bench_policy``) and their decisions compared in float64.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from messjax.core import policy
from messjax.core.reference_policy import draw_policy_coins, reference_policy_episode
from messjax.core.sweep import request_order
from messjax.paper import ALPHA_GRID
from messjax.runs.bench_loops import run_worker
from messjax.runs.bench_plan import ZOO, Plan

POLICY_WORKER = "--messjax-loop-worker"


# THE MESSJAX POLICY ----------------------------------------------------------------------------
def messjax_cells(table, X, plan: Plan, *, subset_requests: int | None = None):
    """The ``messjax`` policy's grid: tasks x seeds x alphas x ``plan.messjax_V`` x c at its
    default policy parameters (:func:`messjax.core.policy.default_policy_params`), each seed's
    request order as the sweep's (:func:`request_order`). With ``subset_requests`` the NumPy
    loop's subset instead: per task seed 42's order cut to its first requests, the middle
    alpha, V = 1 and every c. Returns ``(streams, cells)`` for
    :func:`messjax.core.policy.run_cells`; make it under the x64 mode it runs in."""
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
        run_worker(__name__, POLICY_WORKER, "messjax-loop", spec, streams, inp, out)
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
    hp = {k: np.asarray(getattr(cell["hp"], k)).item() for k in ("alpha", "V", "c")}
    pp = {k: np.asarray(getattr(cell["pp"], k)).item() for k in policy.POLICY_PARAM_NAMES}
    return dict(hp=hp, pp=pp)


def messjax_loop_worker(inp: str, out: str) -> int:
    """The worker process of :func:`time_messjax_loop`: subset in, timed runs out."""
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


if __name__ == "__main__":
    if sys.argv[1:2] != [POLICY_WORKER]:
        sys.exit(f"usage: python -m messjax.runs.bench_policy {POLICY_WORKER} IN.npz OUT.json")
    sys.exit(messjax_loop_worker(*sys.argv[2:4]))
