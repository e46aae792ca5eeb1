"""Scale benchmark: a provider's day in one stream, and a sweep the size of an accelerator.

``messjax bench --scale --json PATH`` (or ``python experiments/bench_scale.py --json PATH``)
measures, on whatever devices are present, each figure in its own fresh process (so peak
resident memory is the figure's own):

- the stream: one MESS+ episode (and one per other registered policy) over a synthetic
  stream of 1e6 and of 1e7 requests (:class:`messjax.data.SyntheticStream`, the Llama zoo's
  8 tasks mixed, 384-d features like all-MiniLM-L6-v2's, the paper's MLP head), read in
  chunks by :func:`messjax.core.stream.run_stream` with a decimated trace. Keys
  ``stream_1e6_s`` / ``stream_1e7_s`` (wall time of the stream: generating the requests on
  the host and running them; compiling excluded and reported as ``stream_compile_s``; the
  smallest size runs before and after the others and its time is the mean of the two,
  ``stream_*_cpu_s`` the same in CPU time) and
  ``stream_1e6_rss_mb`` / ``stream_1e7_rss_mb`` (peak resident memory of the process), each
  a mapping policy -> figure; ``stream_time_ratio`` and ``stream_rss_ratio`` (1e7 / 1e6).
  A first process per policy runs one chunk to compile (``stream_compile_s``) and fill the
  compilation cache, so both measured processes load the same executable from it;
- the sweep: the paper grid's shape (8 Llama tasks at the logs' request counts x the paper's
  3 alphas x 4 V x 3 c, the authors' predictor settings) with as many seeds as make
  ``--sweep-episodes`` (default 10,000) episodes, on synthetic requests, through
  :func:`messjax.core.sweep.run_sweeps` (the factorised fast path, chunked to the memory
  budget, sharded over the local devices): ``sweep_episodes``, ``sweep_request_steps``,
  ``sweep_s`` (a run after the first), ``sweep_request_steps_per_s``,
  ``sweep_compile_s``, ``sweep_rss_mb`` and ``sweep_device_memory`` (the accelerator's
  allocator statistics; the XLA CPU client keeps none, which the report says);
- ``device``: the devices.

    messjax bench --scale --json results/bench_scale_cpu.json
    messjax bench --scale --sweep-episodes 50000 --scale-sizes 1e6,1e7 \\
        --json results/bench_gpu_scale.json                        # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np

from messjax.runs.bench_plan import describe_device, use_cpu_devices

#: Requests per task in the authors' Llama logs (shared/data/messplus-llama3/<task>.csv).
LOG_REQUESTS = {
    "arc_challenge": 1172,
    "arc_easy": 2000,
    "boolq": 3270,
    "logiqa": 651,
    "piqa": 1838,
    "sciq": 1000,
    "social_iqa": 1954,
    "winogrande": 1267,
}
FEATURE_DIM = 384
STREAM_CHUNK = 1 << 15
STREAM_TRACE_EVERY = 1 << 13
#: MESS+'s stream settings (the paper's V and c); the messjax policy runs with its own defaults
#: (unit-free V, its c) at the same alpha
STREAM_HP = dict(alpha=0.7, V=1e-4, c=0.1, learning_rate=0.05, epochs=1)


def stream_hparams(policy: str):
    """The hyperparameters a policy's stream runs with."""
    if policy == "messjax":
        from messjax.core.policy import default_hparams

        return default_hparams(alpha=STREAM_HP["alpha"])
    from messjax.core.types import make_hparams

    return make_hparams(**STREAM_HP)


WORKER = "--scale-worker"


def _rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def device_memory() -> dict[str, Any]:
    """Allocator statistics of the first local device, where the backend keeps them."""
    import jax

    dev = jax.local_devices()[0]
    stats = None
    try:
        stats = dev.memory_stats()
    except Exception:
        stats = None
    if not stats:
        return dict(
            available=False,
            note=f"the {dev.platform} backend keeps no allocator statistics; "
            "see the process's peak resident memory (*_rss_mb) instead",
        )
    keep = ("bytes_in_use", "peak_bytes_in_use", "bytes_limit", "largest_alloc_size")
    return dict(available=True, **{k: int(stats[k]) for k in keep if k in stats})


# ------------------------------------------------------------------------------ workers
def stream_worker(policy: str, num_requests: int, feature_dim: int, chunk: int) -> dict:
    """One episode over a synthetic stream of ``num_requests`` requests (in this process)."""
    from messjax.core.stream import StreamRunner
    from messjax.core.types import EngineConfig
    from messjax.data.synthetic_stream import SyntheticStream

    source = SyntheticStream("llama3", num_requests=num_requests, feature_dim=feature_dim, seed=0)
    config = EngineConfig(num_models=source.num_models, feature_dim=feature_dim, head="mlp")
    hp = stream_hparams(policy)
    runner = StreamRunner(config, policy=policy, chunk_size=chunk, trace_every=STREAM_TRACE_EVERY)
    compile_s = runner.warm_up(hp)
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = runner.run(source.chunks(chunk), hp, seed_or_key=0)
    seconds, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    s = result.summary
    return dict(
        policy=policy,
        method=result.method,
        num_requests=result.num_requests,
        seconds=seconds,
        cpu_s=cpu_s,  # CPU time of the process (less sensitive to a shared machine's load)
        compile_s=compile_s,
        requests_per_s=result.num_requests / seconds,
        rss_mb=_rss_mb(),
        chunks=result.chunks,
        trace_points=len(result.trace.num_requests),
        total_cost=float(s.total_cost),
        satisfaction=float(s.satisfaction),
        explore_count=int(s.explore_count),
        served_share=(np.asarray(s.served_counts) / result.num_requests).round(4).tolist(),
        device_memory=device_memory(),
    )


def sweep_grids(episodes: int, feature_dim: int):
    """The paper grid's shape with enough seeds for ``episodes`` episodes, on synthetic data."""
    from messjax.core.sweep import make_grid
    from messjax.data.synthetic_stream import SyntheticStream
    from messjax.paper import ALPHA_GRID, C_GRID, V_GRID, predictor_preset

    per_seed = sum(len(ALPHA_GRID["llama3"][t]) * len(V_GRID) * len(C_GRID) for t in LOG_REQUESTS)
    num_seeds = -(-episodes // per_seed)
    seeds = list(range(42, 42 + num_seeds))
    streams, grids = [], []
    for j, (task, n) in enumerate(LOG_REQUESTS.items()):
        streams.append(
            SyntheticStream(
                "llama3", tasks=task, num_requests=n, feature_dim=feature_dim, seed=j
            ).materialize()
        )
        epochs, lr, momentum = predictor_preset(task)
        grids.append(
            make_grid(
                seeds,
                alpha=list(ALPHA_GRID["llama3"][task]),
                V=list(V_GRID),
                c=list(C_GRID),
                learning_rate=lr,
                epochs=epochs,
                momentum=momentum,
            )
        )
    return streams, grids


def sweep_worker(episodes: int, feature_dim: int, repeats: int = 1) -> dict:
    """The large sweep (in this process): first call, then ``repeats`` timed calls."""
    import jax

    from messjax.core.sweep import default_memory_budget, run_sweeps
    from messjax.core.types import EngineConfig

    streams, grids = sweep_grids(episodes, feature_dim)
    config = EngineConfig(num_models=3, feature_dim=feature_dim, head="mlp")
    n_ep = sum(g.size for g in grids)
    steps = sum(len(s[1]) * g.size for s, g in zip(streams, grids, strict=True))
    chunks = []

    cpu = []

    def call():
        t0, c0 = time.perf_counter(), time.process_time()
        out = run_sweeps(streams, grids, config, progress=lambda done, total: chunks.append(done))
        jax.block_until_ready(out[-1].summary)
        cpu.append(time.process_time() - c0)
        return time.perf_counter() - t0, out

    first, results = call()
    calls_per_run = len(chunks)
    runs = [call()[0] for _ in range(repeats)]
    best = min(runs)
    best_cpu = cpu[1 + runs.index(best)]
    sat = np.concatenate([np.asarray(r.summary.satisfaction) for r in results])
    met = np.concatenate([np.asarray(r.summary.sla_met) for r in results])
    return dict(
        sweep_episodes=n_ep,
        sweep_request_steps=steps,
        sweep_seeds=len(set(grids[0].seeds.tolist())),
        sweep_first_call_s=first,
        sweep_runs_s=runs,
        sweep_s=best,
        sweep_compile_s=max(first - best, 0.0),
        sweep_request_steps_per_s=steps / best,
        sweep_cpu_s=best_cpu,  # CPU time of that run, all threads (the machine may be shared)
        sweep_chunks=calls_per_run,
        sweep_memory_budget_bytes=default_memory_budget(),
        sweep_rss_mb=_rss_mb(),
        sweep_device_memory=device_memory(),
        sweep_mean_satisfaction=float(sat.mean()),
        sweep_sla_met_share=float(met.mean()),
        local_devices=jax.local_device_count(),
    )


def _spawn(args: list[str], log) -> dict:
    """Run a worker in a fresh process and return its JSON."""
    cmd = [sys.executable, "-m", __name__, WORKER, *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"scale worker {args} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = time.perf_counter() - t0
    return out


def _size_key(n: int) -> str:
    exp = len(str(n)) - 1
    return f"1e{exp}" if 10**exp == n else str(n)


def run_scale(
    sizes=(1_000_000, 10_000_000),
    policies=None,
    sweep_episodes: int = 10_000,
    feature_dim: int = FEATURE_DIM,
    chunk: int = STREAM_CHUNK,
    devices: int | None = None,
    note: str | None = None,
    log=print,
) -> dict[str, Any]:
    """Every measurement of the module docstring; returns the JSON-ready report."""
    import jax

    from messjax.core.stream import POLICIES

    policies = list(policies or POLICIES)
    t_start = time.perf_counter()
    report: dict[str, Any] = dict(device=describe_device(), jax_version=jax.__version__)
    streams: dict[str, dict] = {}
    warmup: dict[str, dict] = {}
    for policy in policies:
        # One chunk first: it compiles and fills the compilation cache, so the measured
        # processes start alike (their peak memory holds no compiler work either way).
        warmup[policy] = _spawn(["stream", policy, str(chunk), str(feature_dim), str(chunk)], log)
        log(f"stream: {policy}, compile (first process) {warmup[policy]['compile_s']:.1f} s")
        # Smallest to largest, then the smallest again: its time is the mean of the two runs
        # that bracket the others, which cancels a drift of a shared machine's load.
        order = sorted(sizes) + (sorted(sizes)[:1] if len(sizes) >= 2 else [])
        for i, n in enumerate(order):
            log(f"stream: {policy}, {n:,} requests ...")
            r = _spawn(["stream", policy, str(n), str(feature_dim), str(chunk)], log)
            key = _size_key(n) + ("_after" if i == len(sizes) else "")
            streams.setdefault(key, {})[policy] = r
            log(
                f"stream: {policy}, {n:,} requests in {r['seconds']:.1f} s "
                f"(CPU {r['cpu_s']:.1f} s, {r['requests_per_s']:,.0f} requests/s, compile "
                f"{r['compile_s']:.1f} s), peak RSS {r['rss_mb']:.0f} MB"
            )

    def figure(key, policy, name):
        value = streams[key][policy][name]
        after = streams.get(key + "_after", {}).get(policy)
        return (value + after[name]) / 2 if after is not None and name != "rss_mb" else value

    for n in sizes:
        key = _size_key(n)
        report[f"stream_{key}_s"] = {p: figure(key, p, "seconds") for p in policies}
        report[f"stream_{key}_cpu_s"] = {p: figure(key, p, "cpu_s") for p in policies}
        report[f"stream_{key}_rss_mb"] = {p: figure(key, p, "rss_mb") for p in policies}
    if len(sizes) >= 2:
        lo, hi = _size_key(min(sizes)), _size_key(max(sizes))
        for name, unit in (("time", "s"), ("cpu_time", "cpu_s"), ("rss", "rss_mb")):
            report[f"stream_{name}_ratio"] = {
                p: report[f"stream_{hi}_{unit}"][p] / report[f"stream_{lo}_{unit}"][p]
                for p in policies
            }
        report["stream_size_ratio"] = max(sizes) / min(sizes)
    report["stream_compile_s"] = {p: warmup[p]["compile_s"] for p in policies}
    report["stream_compile_warm_s"] = {
        p: streams[_size_key(min(sizes))][p]["compile_s"] for p in policies
    }
    report["stream_runs"] = streams
    report["stream_setup"] = dict(
        source="SyntheticStream('llama3'), 8 tasks mixed, seed 0",
        feature_dim=feature_dim,
        head="mlp",
        chunk_size=chunk,
        trace_every=STREAM_TRACE_EVERY,
        hyperparameters=STREAM_HP,
        timing="wall (and CPU) time of generating the requests on the host and running the "
        "jitted chunk scans, compile excluded; the smallest size runs before and after the "
        "others and its time is the mean of the two (its peak memory: the first run's)",
    )
    if sweep_episodes > 0:
        log(f"sweep: >= {sweep_episodes:,} episodes ...")
        sw = _spawn(["sweep", str(sweep_episodes), str(feature_dim), str(devices or 0)], log)
        report.update(sw)
        log(
            f"sweep: {sw['sweep_episodes']:,} episodes, {sw['sweep_request_steps']:,} "
            f"request-steps in {sw['sweep_s']:.2f} s = {sw['sweep_request_steps_per_s']:,.0f} "
            f"request-steps/s (compile {sw['sweep_compile_s']:.1f} s, {sw['sweep_chunks']} "
            f"chunk(s), peak RSS {sw['sweep_rss_mb']:.0f} MB)"
        )
    report.update(
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        bench_wall_s=time.perf_counter() - t_start,
        load_average=list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    )
    if note:
        report["note"] = note
    return report


def _worker(argv: list[str]) -> int:
    from messjax.runs import compile_cache

    compile_cache.enable()
    kind = argv[0]
    if kind == "stream":
        out = stream_worker(argv[1], int(argv[2]), int(argv[3]), int(argv[4]))
    else:
        use_cpu_devices(int(argv[3]) or None, log=lambda _: None)  # as the paper-grid bench
        out = sweep_worker(int(argv[1]), int(argv[2]))
    print(json.dumps(out))
    return 0


def _sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s.strip()]


def report_from_args(args: argparse.Namespace, log) -> dict[str, Any]:
    """The report of ``messjax bench --scale`` (options of :mod:`messjax.runs.benchmarks`)."""
    return run_scale(
        sizes=_sizes(args.scale_sizes),
        policies=args.policies.split(",") if args.policies else None,
        sweep_episodes=args.sweep_episodes,
        devices=args.devices,
        note=args.note,
        log=log,
    )


if __name__ == "__main__":  # the worker processes of run_scale
    if sys.argv[1:2] != [WORKER]:
        sys.exit(f"usage: python -m messjax.runs.bench_scale {WORKER} stream|sweep ARGS...")
    sys.exit(_worker(sys.argv[2:]))
