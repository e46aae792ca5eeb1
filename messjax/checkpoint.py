"""Orbax checkpoints: resumable sweeps and the live router's state.

Sweeps. :func:`chunked_sweep` runs a grid ``chunk_size`` cells at a time through
:func:`messjax.experiment.sweep_table` and saves every finished chunk (its summaries and traces)
under ``OUT/checkpoints/<task>/chunk_<i>``. Rerunning the same command loads those chunks and
computes only the rest; a cell's numbers do not depend on the chunk it ran in, so a resumed
sweep writes the same ``summary.csv`` byte for byte. ``OUT/checkpoints/sweep.json`` records
what was swept (the resolved config without its wandb section, and a fingerprint of each
task's table); a rerun with anything else is refused with :class:`CheckpointMismatch`.

Router. :func:`save_router` / :func:`restore_router` (also ``Router.save`` /
``Router.restore``) write the whole :class:`~messjax.core.types.RouterState` (predictor
parameters, optimiser state, queues, cost estimate, request counter ``t``, PRNG key) and the
hyperparameters as an Orbax pytree, with the model names, seed, featurizer and
:class:`~messjax.core.types.EngineConfig` as JSON next to it, and the in-flight tickets (their
decisions as JSON, their embeddings as an array). A restored router decides exactly like one
that never stopped and still takes the outcomes of the requests in flight when it was saved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from messjax.errors import MessjaxError

#: Bump when the layout of sweep checkpoints changes.
FORMAT_VERSION = 1
SWEEP_META = "sweep.json"


class CheckpointMismatch(MessjaxError):
    """The checkpoints in an output folder belong to a different sweep."""


def _ocp():
    import orbax.checkpoint as ocp

    return ocp


def table_fingerprint(table) -> str:
    """sha256 of a routing table's models, request ids, labels and costs."""
    h = hashlib.sha256()
    h.update(json.dumps([table.name, table.cost_unit, list(table.models)]).encode())
    for arr in (table.tasks, table.ids):
        h.update("\x00".join(arr.tolist()).encode())
    for arr in (table.labels, table.costs):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in list(old) + [k for k in new if k not in old]:
            out += _diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def _safe_name(task: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", task) or "_"


# ---------------------------------------------------------------------------- sweeps
class SweepCheckpoint:
    """Finished chunks of one sweep, saved with Orbax under ``directory/<task>/chunk_<i>``.

    ``identity`` (JSON-able) says what the sweep is; opening a folder that holds chunks of a
    sweep with another identity raises :class:`CheckpointMismatch`.
    """

    def __init__(self, directory: str | Path, identity: dict[str, Any]):
        self.directory = Path(directory).absolute()
        self.identity = json.loads(json.dumps({"format": FORMAT_VERSION, **identity}))
        meta = self.directory / SWEEP_META
        if meta.is_file():
            old = json.loads(meta.read_text())
            if old != self.identity:
                keys = ", ".join(_diff(old, self.identity)) or "(format)"
                raise CheckpointMismatch(
                    f"{self.directory} holds checkpoints of a different sweep (changed: {keys}); "
                    "refusing to resume. Use another --out folder, or --restart to delete "
                    "the checkpoints and start over."
                )
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps(self.identity, indent=1, sort_keys=True) + "\n")
        self._managers: dict[str, Any] = {}

    @staticmethod
    def remove(directory: str | Path) -> None:
        shutil.rmtree(directory, ignore_errors=True)

    def _manager(self, task: str):
        if task not in self._managers:
            ocp = _ocp()
            options = ocp.CheckpointManagerOptions(
                enable_async_checkpointing=False, create=True, step_prefix="chunk"
            )
            self._managers[task] = ocp.CheckpointManager(
                self.directory / _safe_name(task), options=options
            )
        return self._managers[task]

    def completed(self, task: str) -> list[int]:
        """Indices of the chunks of ``task`` already saved."""
        return sorted(self._manager(task).all_steps())

    def load(self, task: str, chunk: int):
        """``(summary, trace)`` of a saved chunk (``trace`` None if not traced), else None."""
        from messjax.core.episode import Summary, Totals

        mngr = self._manager(task)
        if chunk not in mngr.all_steps():
            return None
        ocp = _ocp()
        tree = mngr.restore(chunk, args=ocp.args.StandardRestore())
        summary = Summary(**{k: np.asarray(v) for k, v in tree["summary"].items()})
        trace = tree.get("trace")
        if trace is not None:
            trace = Totals(**{k: np.asarray(v) for k, v in trace.items()})
        return summary, trace

    def save(self, task: str, chunk: int, summary, trace) -> None:
        ocp = _ocp()
        tree = {"summary": {k: np.asarray(v) for k, v in dataclasses.asdict(summary).items()}}
        if trace is not None:
            tree["trace"] = {k: np.asarray(v) for k, v in dataclasses.asdict(trace).items()}
        mngr = self._manager(task)
        mngr.save(chunk, args=ocp.args.StandardSave(tree))
        mngr.wait_until_finished()

    def close(self) -> None:
        for mngr in self._managers.values():
            mngr.close()
        self._managers.clear()

    def __enter__(self) -> SweepCheckpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def chunk_bounds(num_cells: int, chunk_size: int | None) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]`` of the chunks of a grid (one chunk when ``chunk_size`` is None)."""
    size = chunk_size or max(num_cells, 1)
    return [(lo, min(lo + size, num_cells)) for lo in range(0, num_cells, size)]


def chunked_sweep(
    table,
    grid,
    *,
    x: np.ndarray,
    chunk_size: int | None = None,
    checkpoint: SweepCheckpoint | None = None,
    task: str | None = None,
    progress: Callable[[int], None] | None = None,
    **sweep_kw: Any,
):
    """:func:`~messjax.experiment.sweep_table` over ``grid`` one chunk at a time.

    Chunks already in ``checkpoint`` (under ``task``) are loaded, the others computed and
    saved. ``progress(n)`` is called with the number of cells of each finished chunk.
    Returns ``(SweepResult, number of chunks computed)``.
    """
    import jax

    from messjax.core.sweep import SweepResult
    from messjax.experiment import sweep_table

    task = task if task is not None else table.name
    trace_every = int(sweep_kw.get("trace_every", 0))
    parts, computed = [], 0
    for i, (lo, hi) in enumerate(chunk_bounds(grid.size, chunk_size)):
        part = checkpoint.load(task, i) if checkpoint is not None else None
        if part is None:
            res = sweep_table(table, grid.take(np.arange(lo, hi)), x=x, **sweep_kw)
            part = (res.summary, res.trace)
            if checkpoint is not None:
                checkpoint.save(task, i, *part)
            computed += 1
        parts.append(part)
        if progress is not None:
            progress(hi - lo)
    summary = jax.tree.map(lambda *a: np.concatenate(a), *[p[0] for p in parts])
    trace = None
    if trace_every > 0:
        trace = jax.tree.map(lambda *a: np.concatenate(a), *[p[1] for p in parts])
    return SweepResult(grid=grid, summary=summary, trace=trace, trace_every=trace_every), computed


# ---------------------------------------------------------------------------- router
ROUTER_FORMAT = 1


def save_router(router, path: str | Path) -> Path:
    """Write ``router``'s state, hyperparameters and settings to the folder ``path``
    (replaced if it exists), with its in-flight tickets (``live``: JSON; ``tickets``: their
    embeddings, when there are any)."""
    ocp = _ocp()
    path = Path(path).absolute()
    meta = {
        "format": ROUTER_FORMAT,
        "models": list(router.models),
        "seed": int(router.seed),
        "featurizer": router.featurizer,
        "config": dataclasses.asdict(router.config),
    }
    tree = {"state": router.state, "hparams": router.hparams}
    live = router.live_meta()
    items = {
        "router": ocp.args.StandardSave(tree),
        "meta": ocp.args.JsonSave(meta),
        "live": ocp.args.JsonSave(live),
    }
    pending = router.pending()
    if pending:
        items["tickets"] = ocp.args.StandardSave({"x": np.stack([t.x for t in pending])})
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
        ckptr.save(path, args=ocp.args.Composite(**items), force=True)
    return path


def restore_router(path: str | Path, cls=None):
    """A :class:`~messjax.router.Router` (or ``cls``) in the exact state saved at ``path``."""
    import jax

    from messjax.core.step import init_state
    from messjax.core.types import EngineConfig, make_hparams

    if cls is None:
        from messjax.router import Router as cls
    ocp = _ocp()
    path = Path(path).absolute()
    if not path.is_dir():
        raise MessjaxError(f"no router checkpoint at {path}")
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
        meta = ckptr.restore(path, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        if meta.get("format") != ROUTER_FORMAT:
            raise MessjaxError(f"{path}: unsupported router checkpoint format {meta.get('format')}")
        config = EngineConfig(**meta["config"])
        seed = int(meta["seed"])
        # The restore target: same tree structure, shapes and dtypes as a fresh router.
        target = {
            "state": init_state(jax.random.PRNGKey(seed), config),
            "hparams": make_hparams(validate=False),
        }
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        tree = ckptr.restore(
            path, args=ocp.args.Composite(router=ocp.args.StandardRestore(abstract))
        )["router"]
        live, xs = None, None
        if (path / "live").is_dir():  # checkpoints from before tickets have none
            live = ckptr.restore(path, args=ocp.args.Composite(live=ocp.args.JsonRestore()))["live"]
            if live["tickets"]:
                xs = ckptr.restore(
                    path, args=ocp.args.Composite(tickets=ocp.args.StandardRestore())
                )["tickets"]["x"]
    router = cls(
        meta["models"],
        config,
        tree["hparams"],
        seed=seed,
        featurizer=meta["featurizer"],
        state=tree["state"],
    )
    if live is not None:
        router.load_live(live, None if xs is None else np.asarray(xs))
    return router
