"""messjax: MESS+ cost-optimal LLM request routing with SLA guarantees, in JAX.

Main entry points: :class:`messjax.Router` (live routing), :func:`messjax.make_grid` and
:func:`messjax.sweep_table` (vmapped sweeps), :mod:`messjax.data` (routing tables).

The names below are imported on first use (PEP 562), so ``import messjax`` and
``messjax --help`` do not pay for importing JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "EngineConfig": "messjax.core.types",
    "Hyperparams": "messjax.core.types",
    "make_hparams": "messjax.core.types",
    "make_grid": "messjax.core.sweep",
    "run_sweep": "messjax.core.sweep",
    "sweep_table": "messjax.runs.experiment",
    "Router": "messjax.router",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'messjax' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
