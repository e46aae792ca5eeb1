"""Sweeps: a Cartesian grid of (seed x hyperparameters) cells run as one vmapped computation.

Cells that share a seed share the request order (a seeded shuffle) and the per-request coins
(common random numbers), so differences between such cells come from their hyperparameters.
A cell's results depend only on its own (seed, hyperparameters): they are identical whether it
runs alone, in a chunk, or sharded over devices.

Two methods:
- ``"fast"`` (default): one :func:`~messjax.core.fast.learner_pass` per distinct learner
  trajectory (seed, c, learning_rate, epochs, feedback_rate), then the routing pass vmapped
  over every cell;
- ``"generic"``: :func:`~messjax.core.episode.run_episode` vmapped over cells (the reference
  scan of the full step, used to check the fast path).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from messjax.core.episode import Stream, Summary, run_episode
from messjax.core.fast import count_training_events, learner_pass, routing_pass
from messjax.core.types import HPARAM_NAMES, EngineConfig, Hyperparams, make_hparams
from messjax.data.streams import permutation
from messjax.errors import ConfigError

#: Hyperparameters that determine the learner trajectory (the rest only affect routing).
LEARNER_KEYS = ("c", "learning_rate", "epochs", "feedback_rate")


def request_order(num_requests: int, seed: int) -> np.ndarray:
    """The seeded shuffle of a stream (MESSPLUS.md section 3: each seed shuffles the order)."""
    return permutation(num_requests, seed)


@dataclasses.dataclass(frozen=True)
class Grid:
    """The cells of a sweep: ``seeds[N]`` and a :class:`Hyperparams` with ``[N]`` leaves."""

    seeds: np.ndarray
    hparams: Hyperparams

    @property
    def size(self) -> int:
        return len(self.seeds)

    def cell(self, i: int) -> Grid:
        return self.take([i])

    def take(self, index) -> Grid:
        index = np.asarray(index)
        return Grid(
            seeds=self.seeds[index],
            hparams=jax.tree.map(lambda a: np.asarray(a)[index], self.hparams),
        )

    def columns(self) -> dict[str, np.ndarray]:
        """seed and every hyperparameter leaf as NumPy columns (for tables)."""
        cols = {"seed": self.seeds}
        cols.update({k: np.asarray(getattr(self.hparams, k)) for k in HPARAM_NAMES})
        return cols


def make_grid(seeds: Sequence[int] = (42,), **axes: Any) -> Grid:
    """Cartesian product of ``seeds`` and each hyperparameter axis (scalar or list).

    Example: ``make_grid([42, 43], alpha=[0.5, 0.6], V=[1e-4, 1e-3], c=0.1)`` has 8 cells.
    Unknown names raise :class:`ConfigError`.
    """
    for k in axes:
        if k not in HPARAM_NAMES:
            raise ConfigError(k, f"unknown hyperparameter; known: {', '.join(HPARAM_NAMES)}")
    seeds = [int(s) for s in np.atleast_1d(seeds)]
    names = list(axes)
    values = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v] for v in axes.values()]
    for name, vals in zip(names, values, strict=True):
        if not vals:
            raise ConfigError(name, "empty list of values")
    cells = list(itertools.product(seeds, *values))
    columns = {n: [cell[i + 1] for cell in cells] for i, n in enumerate(names)}
    hp = make_hparams(**columns)
    n = len(cells)
    return Grid(
        seeds=np.array([cell[0] for cell in cells], np.int64),
        hparams=jax.tree.map(lambda a: np.broadcast_to(np.asarray(a), (n,)).copy(), hp),
    )


@dataclasses.dataclass
class SweepResult:
    """Per-cell summaries (NumPy, leading axis N) and optional decimated traces."""

    grid: Grid
    summary: Summary
    trace: Any = None
    trace_every: int = 0

    def cell(self, i: int) -> dict[str, Any]:
        return {k: np.asarray(v)[i] for k, v in dataclasses.asdict(self.summary).items()}


def _keys(seeds: np.ndarray) -> jax.Array:
    return jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, jnp.uint32))


def _pad_to(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _device_map(fn, num_devices: int, *, mapped, replicated):
    """Run ``fn(*mapped, *replicated)`` over a leading axis split across devices.

    With one device this is just ``fn``; otherwise ``jax.shard_map`` over a 1-D mesh, each
    device handling its slice of the leading axis of ``mapped``.
    """
    if num_devices == 1:
        return fn(*mapped, *replicated)
    mesh = Mesh(np.array(jax.devices()[:num_devices]), ("cells",))
    specs = (PartitionSpec("cells"),) * len(mapped) + (PartitionSpec(),) * len(replicated)
    # check_vma=False: scan carries start replicated (fresh state) and become per-device.
    return jax.shard_map(
        fn, mesh=mesh, in_specs=specs, out_specs=PartitionSpec("cells"), check_vma=False
    )(*mapped, *replicated)


@functools.partial(jax.jit, static_argnames=("config", "num_events", "num_devices"))
def _learner_batch(x, labels, mask, orders, hp, keys, *, config, num_events, num_devices):
    def per_device(orders, hp, keys, x, labels, mask):
        def one(args):
            order, hp, key = args
            return learner_pass(x[order], labels[order], mask[order], hp, key, config, num_events)

        return jax.lax.map(one, (orders, hp, keys))

    return _device_map(
        per_device, num_devices, mapped=(orders, hp, keys), replicated=(x, labels, mask)
    )


@functools.partial(jax.jit, static_argnames=("config", "trace_every", "num_devices"))
def _routing_batch(
    learned, traj_index, labels, costs, mask, orders, hp, *, config, trace_every, num_devices
):
    def per_device(traj_index, orders, hp, learned, labels, costs, mask):
        def one(i, order, hp):
            mine = jax.tree.map(lambda a: a[i], learned)
            return routing_pass(
                mine, labels[order], costs[order], mask[order], hp, config, trace_every
            )

        return jax.vmap(one)(traj_index, orders, hp)

    return _device_map(
        per_device,
        num_devices,
        mapped=(traj_index, orders, hp),
        replicated=(learned, labels, costs, mask),
    )


@functools.partial(jax.jit, static_argnames=("config", "trace_every", "num_devices"))
def _generic_batch(x, labels, costs, mask, orders, hp, keys, *, config, trace_every, num_devices):
    def per_device(orders, hp, keys, x, labels, costs, mask):
        def one(order, hp, key):
            stream = Stream(x=x[order], labels=labels[order], costs=costs[order], mask=mask[order])
            return run_episode(stream, hp, key, config, trace_every)

        return jax.vmap(one)(orders, hp, keys)

    return _device_map(
        per_device, num_devices, mapped=(orders, hp, keys), replicated=(x, labels, costs, mask)
    )


def _bucket(n: int) -> int:
    """Round a static size up to a power of two (limits recompilation)."""
    return max(8, 1 << max(0, math.ceil(math.log2(max(n, 1)))))


def run_sweep(
    x: np.ndarray,
    labels: np.ndarray,
    costs: np.ndarray,
    grid: Grid,
    config: EngineConfig,
    *,
    method: str = "fast",
    trace_every: int = 0,
    chunk_size: int | None = None,
    num_devices: int | None = None,
    orders: Mapping[int, np.ndarray] | None = None,
    progress=None,
) -> SweepResult:
    """Run every cell of ``grid`` on the stream (x[T, d], labels[T, M], costs[T, M]).

    Args:
      method: ``"fast"`` or ``"generic"`` (see module docstring).
      trace_every: keep running totals every k requests (0: none). T is padded up to a
        multiple of k with masked rows.
      chunk_size: cells per jitted call (default: all); results do not depend on it.
      num_devices: shard cells over this many devices (default: all local devices).
      orders: request order per seed (default: :func:`request_order`).
      progress: optional callable ``progress(done_cells, total_cells)``.
    """
    if method not in ("fast", "generic"):
        raise ConfigError("method", f"unknown method {method!r}; choose 'fast' or 'generic'")
    T = x.shape[0]
    if labels.shape[0] != T or costs.shape[0] != T:
        raise ConfigError("stream", "x, labels and costs must have the same number of rows")
    num_devices = num_devices or jax.local_device_count()
    T_pad = _pad_to(T, trace_every) if trace_every > 0 else T
    fdt = jnp.result_type(float)
    pad = T_pad - T
    xj = jnp.asarray(np.pad(x, ((0, pad), (0, 0))), fdt)
    lj = jnp.asarray(np.pad(labels, ((0, pad), (0, 0))), fdt)
    cj = jnp.asarray(np.pad(costs, ((0, pad), (0, 0))), fdt)
    mj = jnp.asarray(np.arange(T_pad) < T)
    seed_list = sorted(set(grid.seeds.tolist()))
    orders = dict(orders or {})
    order_of = {
        s: np.concatenate(
            [np.asarray(orders[s]) if s in orders else request_order(T, s), np.arange(T, T_pad)]
        )
        for s in seed_list
    }

    chunk_size = chunk_size or grid.size
    parts = []
    for lo in range(0, grid.size, chunk_size):
        chunk = grid.take(np.arange(lo, min(lo + chunk_size, grid.size)))
        parts.append(
            _run_chunk(xj, lj, cj, mj, chunk, order_of, config, method, trace_every, num_devices)
        )
        if progress is not None:
            progress(min(lo + chunk_size, grid.size), grid.size)
    summary = jax.tree.map(lambda *a: np.concatenate(a), *[p[0] for p in parts])
    trace = None
    if trace_every > 0:
        trace = jax.tree.map(lambda *a: np.concatenate(a), *[p[1] for p in parts])
    return SweepResult(grid=grid, summary=summary, trace=trace, trace_every=trace_every)


def _run_chunk(
    x, labels, costs, mask, chunk: Grid, order_of, config, method, trace_every, num_devices
):
    n = chunk.size
    n_pad = _pad_to(n, num_devices)
    idx = np.concatenate([np.arange(n), np.zeros(n_pad - n, np.int64)])  # pad with cell 0
    cells = chunk.take(idx)
    hp = jax.tree.map(jnp.asarray, cells.hparams)
    orders = jnp.asarray(np.stack([order_of[s] for s in cells.seeds.tolist()]))
    if method == "generic":
        summary, trace = _generic_batch(
            x,
            labels,
            costs,
            mask,
            orders,
            hp,
            _keys(cells.seeds),
            config=config,
            trace_every=trace_every,
            num_devices=num_devices,
        )
    else:
        summary, trace = _run_fast(
            x, labels, costs, mask, cells, order_of, config, trace_every, num_devices
        )
    take = lambda a: np.asarray(a)[:n]  # noqa: E731
    return jax.tree.map(take, summary), (None if trace is None else jax.tree.map(take, trace))


def _run_fast(x, labels, costs, mask, cells: Grid, order_of, config, trace_every, num_devices):
    # One learner trajectory per distinct (seed, c, learning_rate, epochs, feedback_rate).
    sig = np.stack(
        [cells.seeds.astype(np.float64)]
        + [np.asarray(getattr(cells.hparams, k), np.float64) for k in LEARNER_KEYS],
        axis=1,
    )
    uniq, traj_index = np.unique(sig, axis=0, return_inverse=True)
    first = np.array([np.flatnonzero(traj_index == j)[0] for j in range(len(uniq))])
    n_traj = len(first)
    n_traj_pad = _pad_to(n_traj, num_devices)
    first = np.concatenate([first, np.repeat(first[:1], n_traj_pad - n_traj)])
    traj = cells.take(first)
    t_hp = jax.tree.map(jnp.asarray, traj.hparams)
    t_keys = _keys(traj.seeds)
    t_orders = jnp.asarray(np.stack([order_of[s] for s in traj.seeds.tolist()]))
    counts = jax.jit(jax.vmap(count_training_events, (0, 0, 0, None)))(
        t_keys, t_hp.c, t_hp.feedback_rate, mask
    )
    num_events = _bucket(int(np.max(np.asarray(counts))))
    learned = _learner_batch(
        x,
        labels,
        mask,
        t_orders,
        t_hp,
        t_keys,
        config=config,
        num_events=num_events,
        num_devices=num_devices,
    )
    hp = jax.tree.map(jnp.asarray, cells.hparams)
    orders = jnp.asarray(np.stack([order_of[s] for s in cells.seeds.tolist()]))
    return _routing_batch(
        learned,
        jnp.asarray(traj_index.ravel()),
        labels,
        costs,
        mask,
        orders,
        hp,
        config=config,
        trace_every=trace_every,
        num_devices=num_devices,
    )
