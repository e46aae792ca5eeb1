"""Orbax checkpoints of resumable sweeps (the live router's: :mod:`messjax.router.checkpoint`).

:class:`SweepCheckpoint` stores and loads the finished chunks of a sweep (their
summaries and traces) under ``OUT/checkpoints/<task>/chunk_<i>``;
:func:`messjax.runs.sweep.sweep_chunks` runs a grid chunk by chunk through it, so rerunning the
same command loads those chunks and computes only the rest (a cell's numbers do not depend on
the chunk it ran in: a resumed sweep writes the same ``summary.csv`` byte for byte).
``OUT/checkpoints/sweep.json`` records what was swept (the resolved config without its wandb
section, and a fingerprint of each task's table); a rerun with anything else is refused with
:class:`CheckpointMismatch`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from messjax.errors import CheckpointError, MessjaxError, brief
from messjax.fileio import atomic_write_text, remove_temp_files, safe_filename

#: Bump when the layout of sweep checkpoints changes.
FORMAT_VERSION = 1
SWEEP_META = "sweep.json"


class CheckpointMismatch(MessjaxError):
    """The checkpoints in an output folder belong to a different sweep."""


RESTART_HINT = "rerun the same command with --restart to start over"


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


def _legacy_name(task: str) -> str:
    """A task's checkpoint folder name before :func:`~messjax.fileio.safe_filename`."""
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
                raise CheckpointError(
                    f"{meta} is unreadable ({brief(e)}): {RESTART_HINT}"
                ) from None
            if old != self.identity:
                keys = ", ".join(_diff(old, self.identity)) or "(format)"
                raise CheckpointMismatch(
                    f"{self.directory} holds checkpoints of a different sweep (changed: {keys}); "
                    "refusing to resume. Use another --out folder, or --restart to delete "
                    "the checkpoints and start over."
                )
        else:
            remove_temp_files(self.directory)  # a first sweep.json cut short by a kill
            if self.directory.is_dir() and any(self.directory.iterdir()):
                raise CheckpointError(
                    f"{self.directory} holds checkpoints but no {SWEEP_META} saying which sweep "
                    f"they belong to (an interrupted delete?); refusing to resume from them: "
                    f"{RESTART_HINT}"
                )
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
            folder = self.directory / safe_filename(task)
            self._adopt_legacy_folder(task, folder)
            # A chunk killed mid-save leaves Orbax's unfinished temporary folder: drop it
            # (Orbax's own cleanup option runs in a background thread).
            for tmp in folder.glob("*.orbax-checkpoint-tmp*"):
                shutil.rmtree(tmp, ignore_errors=True)
            self._managers[task] = ocp.CheckpointManager(folder, options=options)
        return self._managers[task]

    def _adopt_legacy_folder(self, task: str, folder: Path) -> None:
        """Checkpoints saved before task names went through ``safe_filename`` sit under the
        older name (other characters replaced by ``_``, no hash): renamed to the new one, so
        they resume, unless another task of this sweep maps to that older name too (then its
        chunks could be either task's, and the task is recomputed)."""
        legacy = self.directory / _legacy_name(task)
        if legacy == folder or folder.exists() or not legacy.is_dir():
            return
        tasks = set(self.identity.get("tables", {})) - {task}
        if any(safe_filename(t) == legacy.name or _legacy_name(t) == legacy.name for t in tasks):
            return
        legacy.rename(folder)

    def completed(self, task: str) -> list[int]:
        """Indices of the chunks of ``task`` already saved."""
        return sorted(self._manager(task).all_steps())

    def chunk_dir(self, task: str, chunk: int) -> Path:
        return self.directory / safe_filename(task) / f"chunk_{chunk}"

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
                f"checkpoint {self.chunk_dir(task, chunk)} is unreadable ({brief(e)}): "
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
