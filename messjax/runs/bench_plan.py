"""What ``messjax bench`` runs (:mod:`messjax.runs.bench`): the grid's plan and its inputs.

The paper's full Llama grid (:data:`FULL`) or ``--quick``'s small one (:data:`QUICK`), the zoo
(the Llama logs, or the synthetic Llama zoo for ``--quick`` when they are absent) and its
features (MiniLM, or hashed n-grams for ``--quick`` without the encoder weights).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

from messjax.core.sweep import Grid, make_grid
from messjax.data import load_zoo, synthetic_zoo
from messjax.data.table import RoutingTable
from messjax.errors import MessjaxError
from messjax.features import HashingFeaturizer, cache, featurize, get_featurizer
from messjax.features.minilm import find_weights
from messjax.paper import ALPHA_GRID, C_GRID, PAPER_TASKS, SEEDS, V_GRID, predictor_preset

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


def use_cpu_devices(n: int | None, log=print) -> None:
    """Split the host CPU into ``n`` XLA devices (default: one per core), so that
    :func:`run_sweeps` shards the learner trajectories over the cores. Must run before JAX's
    backend starts; has no effect on accelerators."""
    n = n or os.cpu_count() or 1
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as e:  # the backend is already up
        log(f"keeping {jax.local_device_count()} device(s): {e}")
