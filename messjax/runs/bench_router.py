"""Load figures of the live router and of ``messjax serve`` (``messjax bench --router``).

- ``route_p50_ms`` / ``route_p99_ms``: one ``Router.route`` on a precomputed embedding (the
  router's own overhead: decide + ticket; the paper's MLP head on 4096 hashed features),
  each request observed before the next (untimed), so the state moves as in real traffic.
- ``route_hash_*``: the same from the text, hashed features computed in the call;
  ``route_minilm_*``: from the text with the all-MiniLM-L6-v2 encoder (384-d; skipped when the
  weights are missing).
- ``batch256_routes_per_s``: ``Router.route_batch`` on 256 precomputed hashed feature rows;
  ``batch256_routes_per_s_with_hashing``: the same from 256 texts (hashing included).
- ``http_requests_per_s``, ``http_errors``, ``http_latency_ms_p50/p99``: chat completions
  through a ``messjax serve`` process against instant fake upstreams (another process), 64
  concurrent clients (httpx, a third process), no feedback.

    python experiments/bench_router.py --json results/bench_router.json
    messjax bench --router --json results/bench_router.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from messjax.runs import serve_load

TEXTS = [
    "What is the capital of France?",
    "Prove that there are infinitely many primes.",
    "Which gas do plants absorb for photosynthesis?",
    "Write a haiku about routers in the cloud.",
    "Explain the Lyapunov drift-plus-penalty method in two sentences.",
    "How many legs does a spider have, and why eight?",
]


def _texts(n: int) -> list[str]:
    return [f"{TEXTS[i % len(TEXTS)]} (request {i})" for i in range(n)]


def _pct(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99))}


def _make_router(featurizer: str, dim: int):
    from messjax.router import Router

    return Router.create(
        ["small", "medium", "large"],
        dim,
        featurizer=featurizer,
        seed=0,
        policy="messplus",  # the README's load figures were measured with MESS+
        alpha=0.75,
        V=0.1,
        c=0.5,
        relative_V=1,
        cost_estimator="running_mean",
    )


def time_routes(router, requests, rng) -> list[float]:
    """Per-call wall times (ms) of ``router.route``; each observed (untimed) right after."""
    ms = []
    for i, req in enumerate(requests):
        t0 = time.perf_counter()
        d = router.route(req)
        ms.append((time.perf_counter() - t0) * 1e3)
        M = len(router.models)
        if d.explore:
            router.observe(d.id, (rng.random(M) < 0.7).astype(float), [1.0, 3.0, 9.0])
        else:
            router.observe(d.id, float(rng.random() < 0.7), [1.0, 3.0, 9.0][d.model_index])
        if i == 0:
            ms.pop()  # the first call may still compile
    return ms


def bench_routes(n: int, n_minilm: int) -> dict[str, Any]:
    from messjax.features import featurize

    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    texts = _texts(n)
    X = featurize(texts, "hash", cache_dir=False, progress=False)
    r = _make_router("hash", X.shape[1])
    time_routes(r, X[:50], rng)  # compile decide/observe
    ms = time_routes(r, X, rng)
    out["route_p50_ms"], out["route_p99_ms"] = _pct(ms)["p50"], _pct(ms)["p99"]
    out["route_min_ms"], out["route_n"] = float(np.min(ms)), len(ms)
    r = _make_router("hash", X.shape[1])
    time_routes(r, texts[:50], rng)
    ms = time_routes(r, texts, rng)
    out["route_hash_p50_ms"], out["route_hash_p99_ms"] = _pct(ms)["p50"], _pct(ms)["p99"]
    try:
        from messjax.features.minilm import find_weights

        find_weights()
        r = _make_router("minilm", 384)
        time_routes(r, _texts(20), rng)  # compile the encoder's length buckets
        ms = time_routes(r, _texts(n_minilm), rng)
        out["route_minilm_p50_ms"] = _pct(ms)["p50"]
        out["route_minilm_p99_ms"] = _pct(ms)["p99"]
    except (FileNotFoundError, ImportError) as e:
        out["route_minilm_skipped"] = str(e).splitlines()[0]
    return out


def bench_batch(reps: int) -> dict[str, Any]:
    from messjax.features import featurize

    texts = _texts(256)
    X = featurize(texts, "hash", cache_dir=False, progress=False)
    base = _make_router("hash", X.shape[1])
    base.snapshot().route_batch(X)  # compile
    best = best_text = float("inf")
    for _ in range(reps):
        r = base.snapshot()  # tickets of one batch only, like a fresh burst
        t0 = time.perf_counter()
        r.route_batch(X)
        best = min(best, time.perf_counter() - t0)
        r = base.snapshot()
        t0 = time.perf_counter()
        r.route_batch(texts)
        best_text = min(best_text, time.perf_counter() - t0)
    return {
        "batch256_routes_per_s": 256 / best,
        "batch256_routes_per_s_with_hashing": 256 / best_text,
        "batch256_ms": best * 1e3,
    }


def bench_http(clients: int, requests: int) -> dict[str, Any]:
    key = "ck-" + os.urandom(6).hex()
    env = {
        **os.environ,
        serve_load.CLIENT_KEY_ENV: key,
        serve_load.UPSTREAM_KEY_ENV: "sk-" + os.urandom(6).hex(),
    }
    names = ("small", "medium", "large")
    fake = serve_load.start_upstreams(names, env)
    serve = None
    try:
        ups = {}
        for _ in names:
            m = re.match(r"upstream (\S+) listening on (\S+)", fake.stdout.readline())
            ups[m.group(1)] = m.group(2)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = serve_load.write_config(Path(tmp) / "router.yaml", ups, Path(tmp) / "state")
            serve = serve_load.ServeProcess(cfg, Path(tmp) / "serve.log", env).start()
            asyncio.run(serve_load.run_clients(serve.url, key, 8, 5, feedback=False))  # warm up
            res = asyncio.run(
                serve_load.run_clients(serve.url, key, clients, requests, feedback=False)
            )
            serve.stop()
    finally:
        if serve is not None and serve.proc.poll() is None:
            serve.proc.kill()
        fake.terminate()
        fake.wait(timeout=30)
    return {
        "http_clients": clients,
        "http_requests": res["sent"],
        "http_requests_per_s": res["requests_per_s"],
        "http_errors": res["sent"] - res["answered"],
        "http_error_samples": res["errors"][:5],
        "http_latency_ms_p50": res["latency_ms_p50"],
        "http_latency_ms_p99": res["latency_ms_p99"],
    }


def run(quick: bool = False, note: str | None = None) -> dict[str, Any]:
    import jax

    report: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "load_avg_at_start": list(os.getloadavg()),
        },
        "note": note,
    }
    report.update(bench_routes(200 if quick else 2000, 20 if quick else 200))
    report.update(bench_batch(3 if quick else 20))
    report.update(bench_http(8 if quick else 64, 3 if quick else 20))
    report["machine"]["load_avg_at_end"] = list(os.getloadavg())
    report["targets"] = {
        "route_p99_ms <= 2": report["route_p99_ms"] <= 2.0,
        "batch256_routes_per_s >= 20000": report["batch256_routes_per_s"] >= 20_000,
    }
    return report


def report_from_args(args: argparse.Namespace, log) -> dict[str, Any]:
    """The report of ``messjax bench --router`` (options of :mod:`messjax.runs.benchmarks`)."""
    return run(quick=args.quick, note=args.note)
