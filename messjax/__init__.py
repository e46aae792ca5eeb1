"""messjax: MESS+ cost-optimal LLM request routing with SLA guarantees, in JAX.

Main entry points: :class:`messjax.Router` (live routing), :func:`messjax.make_grid` and
:func:`messjax.sweep_table` (vmapped sweeps), :mod:`messjax.data` (routing tables).
"""

from messjax.core.sweep import make_grid, run_sweep
from messjax.core.types import EngineConfig, Hyperparams, make_hparams
from messjax.experiment import sweep_table
from messjax.router import Router

__version__ = "0.1.0"
__all__ = [
    "EngineConfig",
    "Hyperparams",
    "Router",
    "make_grid",
    "make_hparams",
    "run_sweep",
    "sweep_table",
]
