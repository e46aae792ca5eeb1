"""Names of the engine's choices and hyperparameters, importable without JAX.

:mod:`messjax.core.types` defines the dataclasses (and checks at import that
:data:`HPARAM_NAMES` lists :class:`~messjax.core.types.Hyperparams`' fields in order); the
config layer and the command line read these names without paying for importing JAX.
"""

from __future__ import annotations

#: Cost estimators for E_hat (MESSPLUS.md section 2, "Variants"); leaf value = index.
COST_ESTIMATORS = ("last_explore", "running_mean", "oracle")
#: Predictor heads (MESSPLUS.md section 4).
HEADS = ("mlp", "linear")
#: The fields of Hyperparams, in order: every one of them can be a sweep axis.
HPARAM_NAMES = (
    "alpha",
    "V",
    "c",
    "learning_rate",
    "epochs",
    "feedback_rate",
    "cost_estimator",
    "inference_cost",
    "training_cost",
    "relative_V",
)
#: Leaves that are integers; the rest are floats.
INT_LEAVES = ("epochs", "cost_estimator", "relative_V")
