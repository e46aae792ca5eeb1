"""Sweeps over more than one host: JAX's multi-controller runtime, a global mesh, shard_map.

Every process runs the same program (one per host, or one per GPU):

    from messjax.runs import distributed
    distributed.initialize()                       # jax.distributed.initialize
    results = distributed.run_sweeps_global(streams, grids, config, out_dir="runs/sweep")

:func:`run_sweeps_global` lays the learner trajectories of the sweep (as in
:mod:`messjax.core.sweep`'s fast path: one per distinct (stream, seed, c, learning rate,
epochs, feedback rate)) over *all* devices of *all* processes, each device with the cells that
share its trajectories, so no learner output crosses a device: one jitted ``shard_map`` over a
1-D global mesh ``("cells",)`` runs :func:`~messjax.core.fast.learner_pass` for the device's
trajectories and :func:`~messjax.core.fast.routing_pass` for its cells. Each process writes the
cells its devices computed to ``out_dir/cells-<process>.npz``; after a barrier, process 0
merges them into ``out_dir/merged.npz`` (every cell of every grid, in grid order); every
process returns the merged results. A cell's numbers do not depend on the number of processes
or devices (tested: two local CPU processes == one process).

Launching (one process per host; JAX finds the coordinator itself under SLURM, on Cloud TPU
pods and under Open MPI; otherwise set ``MESSJAX_COORDINATOR=host:port``,
``MESSJAX_NUM_PROCESSES`` and ``MESSJAX_PROCESS_ID``) — see the README.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from messjax.core.fast import learner_pass, routing_pass
from messjax.core.sweep import (
    Grid,
    SweepResult,
    balance_work,
    cell_keys,
    concat_cells,
    learner_trajectories,
    prepare_cells,
    split_by_grid,
    trajectory_work,
)
from messjax.core.types import EngineConfig
from messjax.errors import ConfigError, OutputFolderError
from messjax.fileio import atomic_savez, atomic_write_text, claim_output_dir

COORDINATOR_ENV = "MESSJAX_COORDINATOR"
NUM_PROCESSES_ENV = "MESSJAX_NUM_PROCESSES"
PROCESS_ID_ENV = "MESSJAX_PROCESS_ID"


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs,
) -> None:
    """``jax.distributed.initialize``, reading ``MESSJAX_COORDINATOR`` (host:port),
    ``MESSJAX_NUM_PROCESSES`` and ``MESSJAX_PROCESS_ID`` when the arguments are not given.
    With none of them set, JAX detects the cluster (SLURM, Cloud TPU, Open MPI, ...).

    On CPUs it selects the gloo collectives, which the barrier between processes needs.
    """
    env = os.environ
    coordinator_address = coordinator_address or env.get(COORDINATOR_ENV)
    if num_processes is None and env.get(NUM_PROCESSES_ENV):
        num_processes = int(env[NUM_PROCESSES_ENV])
    if process_id is None and env.get(PROCESS_ID_ENV):
        process_id = int(env[PROCESS_ID_ENV])
    # CPU devices need gloo for cross-process collectives (GPUs and TPUs bring their own).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        **kwargs,
    )


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where every trajectory and cell of a sweep runs on a mesh of ``devices`` devices.

    Device k runs trajectories ``traj[k * P:(k + 1) * P]`` and cells ``cell[k * Q:(k + 1) *
    Q]``; ``local[k * Q + j]`` is the index of cell j's trajectory among its device's P.
    Padding slots repeat a real trajectory / cell and are dropped (``cell_valid``).
    """

    devices: int
    traj: np.ndarray  # [D * P] index into the first cell of each trajectory
    cell: np.ndarray  # [D * Q] cell index
    cell_valid: np.ndarray  # [D * Q] bool
    local: np.ndarray  # [D * Q] trajectory slot on the cell's device


def plan_layout(cells: Grid, stream_of, order_of, mask, devices: int) -> Layout:
    """Trajectories balanced over devices by expected work (the fast path's cost model), each
    cell on its trajectory's device."""
    traj_of_cell, first = learner_trajectories(cells, stream_of)
    work = trajectory_work(cells, first, stream_of, order_of, mask)
    placed = balance_work(work, devices)  # [D * P] trajectory ids, contiguous per device
    P = len(placed) // devices
    device_of = {}
    for pos, j in enumerate(placed.tolist()):
        device_of.setdefault(j, (pos // P, pos % P))
    per_device: list[list[tuple[int, int]]] = [[] for _ in range(devices)]
    for c, j in enumerate(traj_of_cell.tolist()):
        k, slot = device_of[j]
        per_device[k].append((c, slot))
    Q = max(1, max(len(v) for v in per_device))
    cell, valid_c, local = [], [], []
    for k in range(devices):
        mine = per_device[k] or [(0, 0)]  # a device without cells recomputes cell 0, dropped
        pad = [mine[0]] * (Q - len(per_device[k]))
        for i, (c, slot) in enumerate(mine + pad):
            cell.append(c)
            local.append(slot if per_device[k] else 0)
            valid_c.append(i < len(per_device[k]))
    return Layout(
        devices=devices,
        traj=first[placed],
        cell=np.asarray(cell, np.int64),
        cell_valid=np.asarray(valid_c, bool),
        local=np.asarray(local, np.int32),
    )


@functools.partial(jax.jit, static_argnames=("config", "num_events", "trace_every", "mesh"))
def _global_batch(
    traj_orders,
    traj_hp,
    traj_keys,
    local,
    cell_orders,
    cell_hp,
    x,
    labels,
    costs,
    mask,
    *,
    config,
    num_events,
    trace_every,
    mesh,
):
    def per_device(traj_orders, traj_hp, traj_keys, local, cell_orders, cell_hp, x, lab, cst, m):
        def learn(args):
            order, hp, key = args
            return learner_pass(x[order], lab[order], m[order], hp, key, config, num_events)

        learned = jax.lax.map(learn, (traj_orders, traj_hp, traj_keys))

        def route(i, order, hp):
            mine = jax.tree.map(lambda a: a[i], learned)
            return routing_pass(mine, lab[order], cst[order], m[order], hp, config, trace_every)

        return jax.vmap(route)(local, cell_orders, cell_hp)

    cells = PartitionSpec("cells")
    return jax.shard_map(
        per_device,
        mesh=mesh,
        in_specs=(cells,) * 6 + (PartitionSpec(),) * 4,
        out_specs=cells,
        check_vma=False,
    )(traj_orders, traj_hp, traj_keys, local, cell_orders, cell_hp, x, labels, costs, mask)


def _global(host: np.ndarray, sharding) -> jax.Array:
    """A global array from a host array every process holds in full."""
    host = np.asarray(host)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def _barrier(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _claim_everywhere(out: Path) -> None:
    """Process 0 claims ``out`` (:func:`messjax.fileio.claim_output_dir`) and tells every
    process whether it could, so a refused folder is an error in each of them (not a
    deadline at the next barrier)."""
    error = None
    if jax.process_index() == 0:
        try:
            folder = claim_output_dir(out, "sweep-global")
            names = [f"cells-{p}.npz" for p in range(jax.process_count())]
            folder.record(files=[*names, "merged.json", "merged.npz"])
        except OutputFolderError as e:
            error = OutputFolderError(
                str(e).split("; refusing")[0] + "; refusing to write there: give a new or "
                "empty out_dir (a folder of this function's earlier runs is rerun in place)"
            )
    ok = error is None
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        ok = bool(multihost_utils.broadcast_one_to_all(np.int32(ok)))
    if error is not None:
        raise error
    if not ok:
        raise OutputFolderError(f"process 0 could not claim {out}; see its error")
    _barrier("messjax-sweep-checked")


def run_sweeps_global(
    streams: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    grids: Sequence[Grid],
    config: EngineConfig,
    *,
    out_dir: str | Path,
    trace_every: int = 0,
    orders=None,
) -> list[SweepResult]:
    """:func:`messjax.core.sweep.run_sweeps` (fast path) over every device of every process.

    Call it from every process with the same arguments (after :func:`initialize`; a single
    process works too). ``out_dir`` must be a folder every process can write (a shared file
    system across hosts); it receives ``cells-<process>.npz`` per process and
    ``merged.json`` then ``merged.npz`` (process 0; ``merged.npz``, written last, marks a
    finished run). Process 0 claims the folder first (:func:`messjax.fileio.claim_output_dir`):
    a folder holding files messjax did not write there is refused and nothing in it is
    touched; a folder of an interrupted run (no ``merged.npz``) is simply rerun; a folder
    holding a finished run's ``merged.npz`` is an error.
    """
    if config.replay > 0:
        raise ConfigError("replay", "run_sweeps_global runs the fast path without replay")
    out = Path(out_dir)
    merged_path = out / "merged.npz"
    if merged_path.exists():
        raise FileExistsError(f"{merged_path} exists; give a new out_dir")
    _claim_everywhere(out)  # nobody writes before process 0 has claimed the folder
    prep = prepare_cells(streams, grids, trace_every, orders)
    x, labels, costs, mask = (np.asarray(a) for a in prep.table)
    devices = jax.devices()
    D = len(devices)
    mesh = Mesh(np.array(devices), ("cells",))
    layout = plan_layout(prep.cells, prep.stream_of, prep.order_of, mask, D)
    order = lambda idx: np.stack(  # noqa: E731
        [
            prep.order_of[s, seed]
            for s, seed in zip(
                prep.stream_of[idx].tolist(), prep.cells.seeds[idx].tolist(), strict=True
            )
        ]
    )
    shard, repl = NamedSharding(mesh, PartitionSpec("cells")), NamedSharding(mesh, PartitionSpec())
    traj, cell = prep.cells.take(layout.traj), prep.cells.take(layout.cell)
    summary, trace = _global_batch(
        _global(order(layout.traj), shard),
        jax.tree.map(lambda a: _global(np.asarray(a), shard), traj.hparams),
        _global(np.asarray(cell_keys(traj.seeds)), shard),
        _global(layout.local, shard),
        _global(order(layout.cell), shard),
        jax.tree.map(lambda a: _global(np.asarray(a), shard), cell.hparams),
        _global(x, repl),
        _global(labels, repl),
        _global(costs, repl),
        _global(mask, repl),
        config=config,
        num_events=int(prep.T_pad),
        trace_every=trace_every,
        mesh=mesh,
    )
    # This process's cells: the rows of its addressable shards (in row order).
    leaves, treedef = jax.tree.flatten((summary, trace))
    all_rows = np.arange(len(layout.cell))

    def mine(leaf):
        shards = sorted(leaf.addressable_shards, key=lambda s: all_rows[s.index[0]][0])
        return concat_cells([(all_rows[s.index[0]], np.asarray(s.data)) for s in shards])

    rows = mine(leaves[0])[0]
    local = [mine(leaf)[1] for leaf in leaves]
    keep = layout.cell_valid[rows]
    pid = jax.process_index()
    atomic_savez(
        out / f"cells-{pid}.npz",
        compressed=False,
        cell=layout.cell[rows][keep],
        **{f"leaf{i}": a[keep] for i, a in enumerate(local)},
    )
    _barrier("messjax-sweep-cells-written")
    if pid == 0:
        _merge(out, jax.process_count(), prep.cells.size, len(leaves))
    _barrier("messjax-sweep-merged")
    with np.load(merged_path) as data:
        merged = [data[f"leaf{i}"] for i in range(len(leaves))]
    summary, trace = jax.tree.unflatten(treedef, merged)
    return split_by_grid(grids, summary, trace, trace_every)


def _merge(out: Path, processes: int, num_cells: int, num_leaves: int) -> None:
    """Process 0: every process's cells into merged.npz (each cell exactly once)."""
    parts = []
    for p in range(processes):
        with np.load(out / f"cells-{p}.npz") as data:
            parts.append({k: data[k] for k in data.files})
    merged = concat_cells(parts)
    cell = merged["cell"]
    if sorted(cell.tolist()) != list(range(num_cells)):
        raise RuntimeError(f"the processes' files in {out} do not hold every cell exactly once")
    where = np.argsort(cell, kind="stable")
    arrays = {f"leaf{i}": merged[f"leaf{i}"][where] for i in range(num_leaves)}
    meta = dict(processes=processes, cells=num_cells, devices=jax.device_count())
    atomic_write_text(out / "merged.json", json.dumps(meta) + "\n")
    atomic_savez(out / "merged.npz", compressed=False, **arrays)  # last: the run is complete
