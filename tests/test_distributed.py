"""A sweep under JAX's multi-controller runtime: two local CPU processes == one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("distributed_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start(out: Path, processes: int, devices_each: int) -> list[subprocess.Popen]:
    port = _free_port()
    env = {**os.environ, "MESSJAX_JAX_CACHE": "0", "JAX_PLATFORMS": "cpu"}
    return [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                str(out),
                str(processes),
                str(i),
                str(port),
                str(devices_each),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]


def _wait(procs: list[subprocess.Popen], timeout: float = 300) -> list[str]:
    """The last stdout line of each process; every process is stopped, whatever happens."""
    try:
        outputs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    return [o.strip().splitlines()[-1] for o, _ in outputs]  # gloo also prints to stdout


def _run(out: Path, processes: int, devices_each: int) -> list[str]:
    return _wait(_start(out, processes, devices_each))


def _merged(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "merged.npz") as data:
        return {k: data[k] for k in data.files}


def test_two_processes_equal_one(tmp_path):
    # All three processes at once: two with a coordinator, one alone with two CPU devices.
    outputs = _wait(_start(tmp_path / "two", 2, 1) + _start(tmp_path / "one", 1, 2))
    two, one = outputs[:2], outputs[2:]
    assert sorted(line.split()[0] for line in two) == ["0", "1"]
    assert all(line.split()[1] == "2" for line in two + one)  # a global mesh of 2 devices
    a, b = _merged(tmp_path / "two"), _merged(tmp_path / "one")
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # Each process wrote its own cells; together they are every cell once.
    cells = [np.load(tmp_path / "two" / f"cells-{i}.npz")["cell"] for i in range(2)]
    assert all(len(c) for c in cells)
    assert sorted(np.concatenate(cells).tolist()) == list(range(3 * 2 * 2 * 2 + 3 * 2 * 2))
    # A finished folder is not overwritten.
    with pytest.raises(AssertionError, match="exists"):
        _run(tmp_path / "one", processes=1, devices_each=2)


def _worker_inputs():
    """The worker's streams, grids and engine config, run in this process."""
    from messjax.core.types import EngineConfig

    sys.path.insert(0, str(WORKER.parent))
    try:
        from distributed_worker import sweep_inputs
    finally:
        sys.path.pop(0)
    return (*sweep_inputs(), EngineConfig(num_models=3, feature_dim=12))


def test_global_sweep_equals_run_sweeps(tmp_path):
    """In this process (one device): the global layout gives run_sweeps' numbers."""
    from messjax.core.sweep import run_sweeps
    from messjax.runs.distributed import run_sweeps_global

    streams, grids, config = _worker_inputs()
    got = run_sweeps_global(streams, grids, config, out_dir=tmp_path / "g", trace_every=20)
    ref = run_sweeps(streams, grids, config, trace_every=20)
    for g, r in zip(got, ref, strict=True):
        for name in ("total_cost", "satisfaction", "served_counts", "explore_count", "max_queue"):
            np.testing.assert_array_equal(getattr(g.summary, name), getattr(r.summary, name))
        np.testing.assert_array_equal(g.trace.total_cost, r.trace.total_cost)


def test_global_sweep_folder_keeps_the_users_files_and_reruns_its_own(tmp_path):
    """The folder is claimed first: a user's files there are refused and kept; a run killed
    before its merged.npz (the last file) is rerun in place."""
    from messjax.errors import OutputFolderError
    from messjax.runs.distributed import run_sweeps_global

    streams, grids, config = _worker_inputs()
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "merged.json").write_text("my notes")
    with pytest.raises(OutputFolderError, match=r"merged\.json"):
        run_sweeps_global(streams, grids, config, out_dir=theirs)
    assert (theirs / "merged.json").read_text() == "my notes"
    assert sorted(p.name for p in theirs.iterdir()) == ["merged.json"]

    out = tmp_path / "g"
    first = run_sweeps_global(streams, grids, config, out_dir=out)
    (out / "merged.npz").unlink()  # as if killed between merged.json and merged.npz
    again = run_sweeps_global(streams, grids, config, out_dir=out)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.summary.total_cost, b.summary.total_cost)


def test_a_refused_folder_fails_every_process(tmp_path):
    """Process 0 claims the folder and tells the others: all of them report the refusal."""
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    procs = _start(out, 2, 1)
    try:
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode != 0 and "OutputFolderError" in err, err[-2000:]
    assert "notes.txt" in outputs[0][1]
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
