"""``messjax bench --quick`` end to end: the report's keys, values and the decision check.

It runs in a subprocess: the benchmark splits the CPU into XLA devices, which must happen before
JAX's backend starts (and must not leak into the other tests of this worker).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

KEYS = (
    "device",
    "compile_s",
    "run_s",
    "requests_per_s",
    "numpy_loop_requests_per_s",
    "speedup_vs_numpy_loop",
    "speedup_vs_reference_style",
    "decisions_match_numpy",
    "encode_s",
    "total_request_steps",
    "episodes",
    "first_call_s",
    "compile_cold_s",
    "compile_warm_s",
    "phases_s",
    "jax_version",
    "cpu_count",
)


def _finite(value, key):
    assert isinstance(value, int | float) and math.isfinite(value), (key, value)


@pytest.mark.slow
def test_bench_quick_end_to_end(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(
        os.environ,
        MESSJAX_CACHE_DIR=str(tmp_path / "cache"),
        MESSJAX_JAX_CACHE_DIR=str(tmp_path / "jax"),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "messjax", "bench", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,  # five processes (bench, NumPy loops, compile probes) on 2 shared cores
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert json.loads(proc.stdout) == report  # also printed
    for key in KEYS:
        assert key in report, key
    assert report["quick"] is True
    assert report["decisions_match_numpy"] is True
    assert report["numpy_loop"]["decisions_float64_agreement"] == 1.0
    assert report["episodes"] == 8
    assert report["total_request_steps"] == 8 * 240
    # timings are measurements, not checked against any bound here (benchmarks report ratios);
    # the report must carry them as finite numbers
    for key in ("run_s", "requests_per_s", "numpy_loop_requests_per_s", "speedup_vs_numpy_loop"):
        _finite(report[key], key)
    for key in ("compile_s", "encode_s", "first_call_s", "compile_cold_s", "compile_warm_s"):
        _finite(report[key], key)
    # Cold and warm compiles ran in fresh processes on their own cache, which the cold one
    # filled; this process used the folder given by MESSJAX_JAX_CACHE_DIR.
    assert report["compile_cache"]["cache_files"] > 0
    assert report["compile_cache"]["this_process"] == str(tmp_path / "jax")
    assert any((tmp_path / "jax").iterdir())
    mj = report["messjax"]  # the messjax policy on the same grid shape (issue 11)
    assert mj["episodes"] == 8 and mj["total_request_steps"] == 8 * 240
    assert mj["decisions_match_numpy"] is True and mj["decisions_float64_cells"] == 2
    for key in ("run_s", "steps_per_s", "numpy_steps_per_s", "ratio", "first_call_s", "compile_s"):
        _finite(mj[key], key)
    assert mj["ratio"] == pytest.approx(mj["steps_per_s"] / mj["numpy_steps_per_s"])
    if report["featurizer"] == "minilm":  # the reference-style loop needs the encoder
        _finite(report["speedup_vs_reference_style"], "speedup_vs_reference_style")
    else:
        assert report["speedup_vs_reference_style"] is None


@pytest.mark.slow
def test_bench_scale_end_to_end(tmp_path):
    """``messjax bench --scale`` on tiny sizes: every key of the report, per policy."""
    out = tmp_path / "scale.json"
    env = dict(os.environ, MESSJAX_JAX_CACHE_DIR=str(tmp_path / "jax"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "messjax",
            "bench",
            "--scale",
            "--scale-sizes",
            "1000,10000",
            "--sweep-episodes",
            "288",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    for key in ("stream_1e3_s", "stream_1e4_s", "stream_1e3_rss_mb", "stream_1e4_rss_mb"):
        assert set(report[key]) >= {"messplus"}, key
        _finite(report[key]["messplus"], key)
    runs = report["stream_runs"]
    assert runs["1e4"]["messplus"]["num_requests"] == 10_000
    assert runs["1e4"]["messplus"]["method"] == "fast"
    assert 0 < runs["1e4"]["messplus"]["satisfaction"] <= 1
    assert report["stream_size_ratio"] == 10
    assert report["sweep_episodes"] == 288  # one seed of the paper grid's 8 x 36 cells
    assert report["sweep_request_steps"] == 36 * 13_152
    _finite(report["sweep_request_steps_per_s"], "sweep_request_steps_per_s")
    assert report["device"].startswith("cpu")
    assert report["sweep_device_memory"]["available"] is False  # the CPU client keeps none
