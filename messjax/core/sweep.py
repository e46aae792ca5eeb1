"""Sweeps: a Cartesian grid of (seed x hyperparameters) cells run as one vmapped computation.

Cells that share a seed share the request order (a seeded shuffle) and the per-request coins
(common random numbers), so differences between such cells come from their hyperparameters.
A cell's results depend only on its own (seed, hyperparameters): they are identical whether it
runs alone, in a chunk, or sharded over devices.

Two methods:
- ``"fast"`` (default): one :func:`~messjax.core.fast.learner_pass` per distinct learner
  trajectory (seed, c, learning_rate, epochs, feedback_rate, momentum, sparse_training),
  then the routing pass vmapped
  over every cell;
- ``"generic"``: :func:`~messjax.core.episode.run_episode` vmapped over cells (the reference
  scan of the full step, used to check the fast path).

:func:`run_sweeps` runs several streams (e.g. every task of a zoo), each with its own grid, in
the same jitted calls: one compilation and one dispatch for all of them.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from messjax.core.episode import Stream, Summary, run_episode
from messjax.core.fast import BIG_WINDOW, learner_pass, routing_pass
from messjax.core.step import ALL_EXPLORATIONS
from messjax.core.types import HPARAM_NAMES, EngineConfig, Hyperparams, make_hparams, seed_array
from messjax.data.streams import permutation
from messjax.errors import ConfigError

#: Hyperparameters that determine the learner trajectory (the rest only affect routing).
LEARNER_KEYS = ("c", "learning_rate", "epochs", "feedback_rate", "momentum", "sparse_training")


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


def cell_keys(seeds: np.ndarray) -> jax.Array:
    """One PRNG key per cell from its seed (:func:`messjax.core.types.seed_array`)."""
    return jax.vmap(jax.random.PRNGKey)(jnp.asarray(seed_array(seeds)))


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


def learner_batch_size() -> int:
    """Learner trajectories run side by side (``vmap``) per device.

    On CPUs one at a time (``lax.map``): each keeps its parameters in cache and skips its own
    idle loop iterations. On accelerators, where a trajectory's small sequential kernels leave
    the chip idle, all of them at once. ``$MESSJAX_LEARNER_BATCH`` overrides (results do not
    depend on it beyond float rounding of batched kernels).
    """
    if os.environ.get("MESSJAX_LEARNER_BATCH"):
        return max(1, int(os.environ["MESSJAX_LEARNER_BATCH"]))
    return 1 if jax.default_backend() == "cpu" else 4096


@functools.partial(jax.jit, static_argnames=("config", "num_events", "num_devices", "batch_size"))
def _learner_batch(
    x, labels, mask, orders, hp, keys, *, config, num_events, num_devices, batch_size=1
):
    def per_device(orders, hp, keys, x, labels, mask):
        def one(args):
            order, hp, key = args
            return learner_pass(x[order], labels[order], mask[order], hp, key, config, num_events)

        n = orders.shape[0]
        return jax.lax.map(one, (orders, hp, keys), batch_size=min(batch_size, n))

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


#: Default working-memory budget of one chunk of cells (bytes) where the device does not say
#: how much memory it has (CPUs).
DEFAULT_MEMORY_BUDGET = 2 << 30


def default_memory_budget() -> int:
    """A quarter of the first device's memory where its allocator reports it (GPUs, TPUs),
    else :data:`DEFAULT_MEMORY_BUDGET`: accelerators get chunks the size of their memory."""
    try:
        stats = jax.local_devices()[0].memory_stats() or {}
    except Exception:  # some backends raise instead of returning None
        stats = {}
    limit = int(stats.get("bytes_limit", 0))
    return max(DEFAULT_MEMORY_BUDGET, limit // 4) if limit else DEFAULT_MEMORY_BUDGET


def cell_bytes(
    num_requests: int,
    feature_dim: int,
    num_models: int,
    method: str,
    trace_every: int,
    itemsize: int = 4,
) -> int:
    """Rough peak bytes one cell adds to a chunk: its gathered stream and per-request
    buffers (the generic path also gathers the [T, d] embeddings per cell), and its trace."""
    per_request = 4 * num_models + 4 + (feature_dim if method == "generic" else 0)
    trace = (num_requests // trace_every) * (2 * num_models + 10) if trace_every > 0 else 0
    return 2 * itemsize * (num_requests * per_request + trace) + 4096


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
    memory_budget: int | None = None,
    num_devices: int | None = None,
    orders: Mapping[int, np.ndarray] | None = None,
    progress=None,
) -> SweepResult:
    """Run every cell of ``grid`` on the stream (x[T, d], labels[T, M], costs[T, M]).

    Args:
      method: ``"fast"`` or ``"generic"`` (see module docstring).
      trace_every: keep running totals every k requests (0: none). T is padded up to a
        multiple of k with masked rows.
      chunk_size: cells per jitted call; results do not depend on it. Default: as many as
        fit ``memory_budget`` bytes (see :func:`cell_bytes`).
      memory_budget: bytes of per-cell working memory one chunk may use (default
        :func:`default_memory_budget`: a quarter of an accelerator's memory, 2 GiB on CPUs).
      num_devices: shard cells over this many devices (default: all local devices).
      orders: request order per seed (default: :func:`request_order`).
      progress: optional callable ``progress(done_cells, total_cells)``.
    """
    return run_sweeps(
        [(x, labels, costs)],
        [grid],
        config,
        method=method,
        trace_every=trace_every,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        num_devices=num_devices,
        orders=None if orders is None else [orders],
        progress=progress,
    )[0]


def run_sweeps(
    streams: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    grids: Sequence[Grid],
    config: EngineConfig,
    *,
    method: str = "fast",
    trace_every: int = 0,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    num_devices: int | None = None,
    orders: Sequence[Mapping[int, np.ndarray] | None] | None = None,
    progress=None,
) -> list[SweepResult]:
    """:func:`run_sweep` of ``grids[i]`` on ``streams[i] = (x, labels, costs)``, all at once.

    The streams (e.g. the tasks of a zoo) are stacked into one table of rows and every cell
    reads its own stream through its request order, padded to the longest stream with masked
    rows: the cells of all streams share the jitted calls (one compilation, one dispatch per
    chunk) and each cell's results are the same as with :func:`run_sweep` on its stream alone.
    Arguments are those of :func:`run_sweep`; ``orders[i]`` is the order per seed of stream i.
    Returns one :class:`SweepResult` per stream.
    """
    if method not in ("fast", "generic"):
        raise ConfigError("method", f"unknown method {method!r}; choose 'fast' or 'generic'")
    num_devices = num_devices or jax.local_device_count()
    prep = prepare_cells(streams, grids, trace_every, orders)
    xj, lj, cj, mj = prep.table
    cells, stream_of, order_of, T_pad = prep.cells, prep.stream_of, prep.order_of, prep.T_pad
    streams, fdt = prep.streams, jnp.result_type(float)
    if chunk_size is None:
        memory_budget = memory_budget or default_memory_budget()
        per_cell = cell_bytes(
            T_pad,
            streams[0][0].shape[1],
            streams[0][1].shape[1],
            method,
            trace_every,
            np.dtype(fdt).itemsize,
        )
        chunk_size = max(num_devices, memory_budget // per_cell // num_devices * num_devices)
    # Chunk i + 1 is dispatched before chunk i's results are fetched: the device never waits
    # for the host between chunks (one chunk's outputs in flight at a time).
    parts, pending = [], None

    def fetch(out):
        (summary, trace), n, done = out
        take = lambda a: np.asarray(a)[:n]  # noqa: E731
        parts.append(
            (jax.tree.map(take, summary), None if trace is None else jax.tree.map(take, trace))
        )
        if progress is not None:
            progress(done, cells.size)

    for lo, hi in chunk_bounds(cells.size, chunk_size):
        index = np.arange(lo, hi)
        out = _run_chunk(
            xj,
            lj,
            cj,
            mj,
            cells.take(index),
            stream_of[index],
            order_of,
            config,
            method,
            trace_every,
            num_devices,
        )
        if pending is not None:
            fetch(pending)
        pending = (out, len(index), int(index[-1]) + 1)
    fetch(pending)
    summary, trace = concat_cells(parts)
    return split_by_grid(grids, summary, trace, trace_every)


def chunk_bounds(num_cells: int, chunk_size: int | None) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]`` of the chunks of ``num_cells`` cells, ``chunk_size`` at a time (one
    chunk when ``chunk_size`` is None): the jitted calls of :func:`run_sweeps` and the
    checkpointed chunks of a resumable sweep."""
    size = chunk_size or max(num_cells, 1)
    return [(lo, min(lo + size, num_cells)) for lo in range(0, num_cells, size)]


def concat_cells(parts: Sequence[Any]) -> Any:
    """Per-cell results of consecutive runs of cells (pytrees of arrays with a leading cell
    axis: ``(summary, trace)`` pairs, a grid's ``(seeds, hparams)``; ``None`` leaves stay
    ``None``) as one, concatenated along the cells: the inverse of :func:`split_by_grid`."""
    return jax.tree.map(lambda *a: np.concatenate(a), *parts)


def split_by_grid(grids, summary: Summary, trace: Any, trace_every: int) -> list[SweepResult]:
    """One :class:`SweepResult` per grid from results stacked along the cells of ``grids``
    (in order); :func:`concat_cells` is its inverse."""
    results, lo = [], 0
    for grid in grids:
        take = lambda a, lo=lo, hi=lo + grid.size: np.asarray(a)[lo:hi]  # noqa: E731
        results.append(
            SweepResult(
                grid=grid,
                summary=jax.tree.map(take, summary),
                trace=None if trace is None else jax.tree.map(take, trace),
                trace_every=trace_every,
            )
        )
        lo += grid.size
    return results


@dataclasses.dataclass
class _Prepared:
    """The inputs of a sweep over several streams (see :func:`run_sweeps`)."""

    streams: list
    table: tuple  # x, labels, costs, mask of the stacked streams (+ one padding row)
    cells: Grid  # every grid's cells, one after the other
    stream_of: np.ndarray  # [N] the stream each cell reads
    order_of: dict  # (stream, seed) -> [T_pad] rows of the table
    T_pad: int


def prepare_cells(streams, grids, trace_every, orders) -> _Prepared:
    """Validate and stack the streams; every cell's request order as rows of the table."""
    if len(streams) != len(grids) or not streams:
        raise ConfigError("streams", "give one grid per stream (and at least one stream)")
    streams = [tuple(np.asarray(a) for a in s) for s in streams]
    for x, labels, costs in streams:
        if labels.shape[0] != x.shape[0] or costs.shape[0] != x.shape[0]:
            raise ConfigError("stream", "x, labels and costs must have the same number of rows")
        if x.shape[1:] != streams[0][0].shape[1:] or labels.shape[1:] != streams[0][1].shape[1:]:
            raise ConfigError("stream", "every stream needs the same feature and model count")
    lengths = [x.shape[0] for x, _, _ in streams]
    T_max = max(lengths)
    T_pad = _pad_to(T_max, trace_every) if trace_every > 0 else T_max
    fdt = jnp.result_type(float)
    # One table: the streams' rows one after the other, then one (masked) padding row.
    pad_row = sum(lengths)

    def stack(k):
        rows = [s[k] for s in streams]
        return jnp.asarray(np.concatenate([*rows, np.zeros((1, *rows[0].shape[1:]))]), fdt)

    xj, lj, cj = stack(0), stack(1), stack(2)
    mj = jnp.asarray(np.arange(pad_row + 1) < pad_row)
    offsets = np.cumsum([0, *lengths[:-1]])
    orders = list(orders) if orders is not None else [None] * len(streams)
    order_of = {}
    for i, grid in enumerate(grids):
        given = dict(orders[i] or {})
        for s in sorted(set(grid.seeds.tolist())):
            order = np.asarray(given[s]) if s in given else request_order(lengths[i], s)
            order_of[i, s] = np.concatenate(
                [offsets[i] + order, np.full(T_pad - lengths[i], pad_row)]
            )

    # All cells in one list; ``stream_of`` says whose stream each one reads.
    cells = Grid(*concat_cells([(g.seeds, g.hparams) for g in grids]))
    stream_of = np.concatenate([np.full(g.size, i) for i, g in enumerate(grids)])
    return _Prepared(
        streams=streams,
        table=(xj, lj, cj, mj),
        cells=cells,
        stream_of=stream_of,
        order_of=order_of,
        T_pad=T_pad,
    )


def _run_chunk(
    x,
    labels,
    costs,
    mask,
    chunk: Grid,
    stream_of,
    order_of,
    config,
    method,
    trace_every,
    num_devices,
):
    n = chunk.size
    n_pad = _pad_to(n, num_devices)
    idx = np.concatenate([np.arange(n), np.zeros(n_pad - n, np.int64)])  # pad with cell 0
    cells, stream_of = chunk.take(idx), stream_of[idx]
    if method == "generic":
        summary, trace = _generic_batch(
            x,
            labels,
            costs,
            mask,
            _orders(cells, stream_of, order_of),
            jax.tree.map(jnp.asarray, cells.hparams),
            cell_keys(cells.seeds),
            config=config,
            trace_every=trace_every,
            num_devices=num_devices,
        )
    else:
        summary, trace = _run_fast(
            x, labels, costs, mask, cells, stream_of, order_of, config, trace_every, num_devices
        )
    return summary, trace  # on the device, padded to n_pad cells (run_sweeps keeps n)


def _orders(cells: Grid, stream_of, order_of) -> jax.Array:
    """[N, T] request orders (rows of the stacked table) of the cells."""
    keys = zip(stream_of.tolist(), cells.seeds.tolist(), strict=True)
    return jnp.asarray(np.stack([order_of[key] for key in keys]))


def balance_work(work: np.ndarray, num_devices: int) -> np.ndarray:
    """Trajectory order (padded with repeats of the cheapest) whose contiguous per-device
    blocks carry about equal ``work``: heaviest first, dealt in snake order."""
    n = len(work)
    per = -(-n // num_devices)
    ranked = np.argsort(-work, kind="stable")
    ranked = np.concatenate([ranked, np.repeat(ranked[-1:], per * num_devices - n)])
    blocks = [[] for _ in range(num_devices)]
    for r, j in enumerate(ranked.tolist()):
        turn, pos = divmod(r, num_devices)
        blocks[pos if turn % 2 == 0 else num_devices - 1 - pos].append(j)
    return np.concatenate([np.asarray(b, np.int64) for b in blocks])


def learner_trajectories(cells: Grid, stream_of) -> tuple[np.ndarray, np.ndarray]:
    """One learner trajectory per distinct (stream, seed, *LEARNER_KEYS): ``(traj_index[N],
    first[P])``, the trajectory of each cell and the first cell of each trajectory."""
    sig = np.stack(
        [stream_of.astype(np.float64), cells.seeds.astype(np.float64)]
        + [np.asarray(getattr(cells.hparams, k), np.float64) for k in LEARNER_KEYS],
        axis=1,
    )
    uniq, traj_index = np.unique(sig, axis=0, return_inverse=True)
    traj_index = traj_index.ravel()
    first = np.array([np.flatnonzero(traj_index == j)[0] for j in range(len(uniq))])
    return traj_index, first


def trajectory_work(cells: Grid, first, stream_of, order_of, mask) -> np.ndarray:
    """Expected work of each trajectory (training steps and prediction windows, which vary
    100-fold with c and epochs): what balancing trajectories over devices equalises."""
    valid = np.asarray(mask)
    hp = {k: np.asarray(getattr(cells.hparams, k))[first] for k in LEARNER_KEYS}
    work = np.empty(len(first))
    keys = zip(stream_of[first].tolist(), cells.seeds[first].tolist(), strict=True)
    for j, key in enumerate(keys):
        f = 1.0 if hp["sparse_training"][j] == ALL_EXPLORATIONS else hp["feedback_rate"][j]
        events = _expected_events(int(valid[order_of[key]].sum()), hp["c"][j], f)
        work[j] = events * (hp["epochs"][j] + 1) + len(order_of[key]) / BIG_WINDOW
    return work


def _run_fast(
    x, labels, costs, mask, cells: Grid, stream_of, order_of, config, trace_every, num_devices
):
    traj_index, first = learner_trajectories(cells, stream_of)
    if num_devices > 1:
        # Devices run their trajectories one after the other: balance the expected work
        # (training steps and prediction windows), which varies 100-fold with c and epochs.
        work = trajectory_work(cells, first, stream_of, order_of, mask)
        placed = balance_work(work, num_devices)
    else:
        placed = np.arange(len(first))
    traj = cells.take(first[placed])
    # Where each trajectory landed (its first slot when the padding repeats it).
    position = np.full(len(first), -1, np.int64)
    for pos, j in enumerate(placed.tolist()):
        if position[j] < 0:
            position[j] = pos
    t_hp = jax.tree.map(jnp.asarray, traj.hparams)
    learned = _learner_batch(
        x,
        labels,
        mask,
        _orders(traj, stream_of[first[placed]], order_of),
        t_hp,
        cell_keys(traj.seeds),
        config=config,
        num_events=int(next(iter(order_of.values())).shape[0]),
        num_devices=num_devices,
        batch_size=learner_batch_size(),
    )
    return _routing_batch(
        learned,
        jnp.asarray(position[traj_index]),
        labels,
        costs,
        mask,
        _orders(cells, stream_of, order_of),
        jax.tree.map(jnp.asarray, cells.hparams),
        config=config,
        trace_every=trace_every,
        num_devices=num_devices,
    )


def _expected_events(num_requests: int, c: float, feedback_rate: float) -> float:
    """E[number of training events] = f * sum_t min(1, c / t^(1/4)) (f = 1 when every
    exploration trains)."""
    t = np.arange(1, num_requests + 1, dtype=np.float64)
    return float(feedback_rate * np.minimum(1.0, c / t**0.25).sum())
