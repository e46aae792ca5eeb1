"""Orbax checkpoints: resumable sweeps and the live router's state.

Sweeps. :func:`chunked_sweep` runs a grid ``chunk_size`` cells at a time through
:func:`messjax.runs.experiment.sweep_table` and saves every finished chunk (its summaries and
traces) under ``OUT/checkpoints/<task>/chunk_<i>``. Rerunning the same command loads those
chunks and computes only the rest; a cell's numbers do not depend on the chunk it ran in, so a
resumed sweep writes the same ``summary.csv`` byte for byte. ``OUT/checkpoints/sweep.json``
records what was swept (the resolved config without its wandb section, and a fingerprint of each
task's table); a rerun with anything else is refused with :class:`CheckpointMismatch`.

Router. :func:`save_router` / :func:`restore_router` (also ``Router.save`` /
``Router.restore``) write the whole policy state (MESS+'s
:class:`~messjax.core.types.RouterState`: predictor parameters, optimiser state, queues, cost
estimate, request counter ``t``, PRNG key; or messjax's
:class:`~messjax.core.policy.PolicyState`) and the hyperparameters (and messjax's
:class:`~messjax.core.policy.PolicyParams`) as an Orbax pytree, with the model names, seed,
featurizer, routing policy (``meta.policy``; checkpoints without it are messplus) and
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

from messjax.errors import CheckpointError, MessjaxError
from messjax.fileio import atomic_write_text, replace_dir, temp_sibling

#: Bump when the layout of sweep checkpoints changes.
FORMAT_VERSION = 1
SWEEP_META = "sweep.json"


class CheckpointMismatch(MessjaxError):
    """The checkpoints in an output folder belong to a different sweep."""


RESTART_HINT = "rerun the same command with --restart to start over"


def _why(e: BaseException) -> str:
    """``Type: first line of the message`` (library errors can span dozens of lines)."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


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
            try:
                old = json.loads(meta.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise CheckpointError(f"{meta} is unreadable ({_why(e)}): {RESTART_HINT}") from None
            if old != self.identity:
                keys = ", ".join(_diff(old, self.identity)) or "(format)"
                raise CheckpointMismatch(
                    f"{self.directory} holds checkpoints of a different sweep (changed: {keys}); "
                    "refusing to resume. Use another --out folder, or --restart to delete "
                    "the checkpoints and start over."
                )
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write_text(meta, json.dumps(self.identity, indent=1, sort_keys=True) + "\n")
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
            folder = self.directory / _safe_name(task)
            # A chunk killed mid-save leaves Orbax's unfinished temporary folder: drop it
            # (Orbax's own cleanup option runs in a background thread).
            for tmp in folder.glob("*.orbax-checkpoint-tmp*"):
                shutil.rmtree(tmp, ignore_errors=True)
            self._managers[task] = ocp.CheckpointManager(folder, options=options)
        return self._managers[task]

    def completed(self, task: str) -> list[int]:
        """Indices of the chunks of ``task`` already saved."""
        return sorted(self._manager(task).all_steps())

    def chunk_dir(self, task: str, chunk: int) -> Path:
        return self.directory / _safe_name(task) / f"chunk_{chunk}"

    def load(self, task: str, chunk: int):
        """``(summary, trace)`` of a saved chunk (``trace`` None if not traced), else None."""
        from messjax.core.episode import Summary, Totals

        try:
            mngr = self._manager(task)
            if chunk not in mngr.all_steps():
                return None
            ocp = _ocp()
            tree = mngr.restore(chunk, args=ocp.args.StandardRestore())
            summary = Summary(**{k: np.asarray(v) for k, v in tree["summary"].items()})
            trace = tree.get("trace")
            if trace is not None:
                trace = Totals(**{k: np.asarray(v) for k, v in trace.items()})
        except (KeyboardInterrupt, MessjaxError):
            raise
        except Exception as e:  # orbax / tensorstore / json raise many kinds
            raise CheckpointError(
                f"checkpoint {self.chunk_dir(task, chunk)} is unreadable ({_why(e)}): "
                f"{RESTART_HINT}, or delete that chunk folder to recompute only it"
            ) from None
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
    """:func:`~messjax.runs.experiment.sweep_table` over ``grid`` one chunk at a time.

    Chunks already in ``checkpoint`` (under ``task``) are loaded, the others computed and
    saved. ``progress(n)`` is called with the number of cells of each finished chunk.
    Returns ``(SweepResult, number of chunks computed)``.
    """
    import jax

    from messjax.core.sweep import SweepResult
    from messjax.runs.experiment import sweep_table

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


#: What Orbax writes at the top of a router checkpoint folder; anything else there is foreign.
ROUTER_ENTRIES = frozenset(
    {"_CHECKPOINT_METADATA", "commit_success.txt", "router", "meta", "live", "tickets"}
)
#: Written by Orbax once a checkpoint is complete.
COMMIT_MARKER = "commit_success.txt"
_ROUTER_TMP = ".messjax-router-tmp"
_ROUTER_OLD = ".messjax-router-old"


def _is_router_checkpoint(path: Path) -> tuple[bool, list[str]]:
    """(whether ``path`` is a folder laid out as a router checkpoint, its foreign entries)."""
    if not path.is_dir() or path.is_symlink():
        return False, []
    names = [p.name for p in path.iterdir()]
    foreign = sorted(n for n in names if n not in ROUTER_ENTRIES)
    return (not foreign and bool(names) and (path / "meta").is_dir()), foreign


def save_router(router, path: str | Path) -> Path:
    """Write ``router``'s state, hyperparameters and settings to the folder ``path``, with its
    in-flight tickets (``live``: JSON; ``tickets``: their embeddings, when there are any).

    Never deletes what it did not write: an existing path that is not a router checkpoint (a
    file, or a folder with anything besides Orbax's router layout) is refused with a
    :class:`~messjax.errors.CheckpointError`. The checkpoint is written to a hidden sibling
    folder first and then swapped into place, so an older checkpoint at ``path`` stays
    complete until the new one is."""
    ocp = _ocp()
    path = Path(path).absolute()
    if path.exists() or path.is_symlink():
        ours, foreign = _is_router_checkpoint(path)
        if not ours:
            what = (
                "a file"
                if not path.is_dir()
                else f"a folder holding {', '.join(foreign[:5]) or 'nothing of a checkpoint'}"
            )
            raise CheckpointError(
                f"{path} is {what}, not a router checkpoint: refusing to replace it; "
                "save to a new path (or remove it yourself)"
            )
    if not path.parent.is_dir():
        raise CheckpointError(f"cannot save a router to {path}: no folder {path.parent}")
    meta = {
        "format": ROUTER_FORMAT,
        "models": list(router.models),
        "seed": int(router.seed),
        "featurizer": router.featurizer,
        "config": dataclasses.asdict(router.config),
        "policy": router.policy,
    }
    tree = {"state": router.state, "hparams": router.hparams}
    if router.policy_params is not None:
        tree["policy_params"] = router.policy_params
    live = router.live_meta()
    items = {
        "router": ocp.args.StandardSave(tree),
        "meta": ocp.args.JsonSave(meta),
        "live": ocp.args.JsonSave(live),
    }
    pending = router.pending()
    if pending:
        items["tickets"] = ocp.args.StandardSave({"x": np.stack([t.x for t in pending])})
    tmp = temp_sibling(path, _ROUTER_TMP)
    try:
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
            ckptr.save(tmp, args=ocp.args.Composite(**items))
        if not (tmp / COMMIT_MARKER).is_file():  # Orbax writes it on local file systems
            (tmp / COMMIT_MARKER).write_text("messjax: checkpoint complete\n")
        replace_dir(tmp, path, _ROUTER_OLD)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _interrupted_save_hint(path: Path) -> str:
    old = sorted(path.parent.glob(f".{path.name}.*{_ROUTER_OLD}"))
    if old:
        return (
            f"; an interrupted save left the previous checkpoint at {old[-1]}: rename it to {path}"
        )
    return ""


def restore_router(path: str | Path, cls=None):
    """A :class:`~messjax.router.Router` (or ``cls``) in the exact state saved at ``path``.

    Checks first that ``path`` is a complete checkpoint (Orbax's commit marker, readable
    metadata); every problem is one :class:`~messjax.errors.CheckpointError` line."""
    import jax

    from messjax.core.policy import default_policy_params, init_policy
    from messjax.core.step import init_state
    from messjax.core.types import EngineConfig, make_hparams

    if cls is None:
        from messjax.router import Router as cls
    ocp = _ocp()
    path = Path(path).absolute()
    if not path.is_dir():
        what = "no router checkpoint" if not path.exists() else "not a router checkpoint (a file)"
        raise CheckpointError(f"{what} at {path}{_interrupted_save_hint(path)}")
    ours, foreign = _is_router_checkpoint(path)
    if not ours:
        raise CheckpointError(
            f"{path} is not a router checkpoint (it holds {', '.join(foreign[:5]) or 'no meta/'})"
        )
    for marker in (path / COMMIT_MARKER, path / "router" / COMMIT_MARKER):
        if not marker.is_file():
            raise CheckpointError(
                f"router checkpoint {path} is incomplete (no {marker.relative_to(path)}: its save "
                "did not finish); restore an older copy or save the router again"
            )
    try:
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
            meta = ckptr.restore(path, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
            if not isinstance(meta, dict) or meta.get("format") != ROUTER_FORMAT:
                got = meta.get("format") if isinstance(meta, dict) else meta
                raise CheckpointError(f"{path}: unsupported router checkpoint format {got!r}")
            config = EngineConfig(**meta["config"])
            seed = int(meta["seed"])
            models, featurizer = list(meta["models"]), meta["featurizer"]
            policy = meta.get("policy", "messplus")  # checkpoints from before policies
            # The restore target: same tree structure, shapes and dtypes as a fresh router.
            hp = make_hparams(validate=False)
            if policy == "messjax":
                pp = default_policy_params()
                target = {
                    "state": init_policy(
                        jax.random.PRNGKey(seed), config.num_models, config.feature_dim, hp, pp
                    ),
                    "hparams": hp,
                    "policy_params": pp,
                }
            elif policy == "messplus":
                target = {"state": init_state(jax.random.PRNGKey(seed), config), "hparams": hp}
            else:
                raise CheckpointError(f"{path}: unknown routing policy {policy!r}")
            abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
            tree = ckptr.restore(
                path, args=ocp.args.Composite(router=ocp.args.StandardRestore(abstract))
            )["router"]
            live, xs = None, None
            if (path / "live").is_dir():  # checkpoints from before tickets have none
                live = ckptr.restore(path, args=ocp.args.Composite(live=ocp.args.JsonRestore()))[
                    "live"
                ]
                if live["tickets"]:
                    xs = ckptr.restore(
                        path, args=ocp.args.Composite(tickets=ocp.args.StandardRestore())
                    )["tickets"]["x"]
    except (KeyboardInterrupt, CheckpointError):
        raise
    except Exception as e:  # orbax / tensorstore / json raise many kinds
        raise CheckpointError(
            f"router checkpoint {path} is corrupt ({_why(e)}); restore an older copy or save "
            "the router again"
        ) from None
    router = cls(
        models,
        config,
        tree["hparams"],
        seed=seed,
        featurizer=featurizer,
        state=tree["state"],
        policy=policy,
        policy_params=tree.get("policy_params"),
    )
    if live is not None:
        router.load_live(live, None if xs is None else np.asarray(xs))
    return router
