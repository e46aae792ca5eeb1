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
#: What the predictor trains on under sparse feedback (leaf value = index):
#: ``feedback_only`` (messjax, MESSPLUS.md section 2: explorations that yield feedback; the
#: only choice a live system has) or ``all_explorations`` (the authors' simulator: every
#: exploration, feedback or not; only the virtual queue waits for feedback). Identical when
#: feedback_rate = 1.
SPARSE_TRAINING = ("feedback_only", "all_explorations")
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
    "momentum",
    "sparse_training",
)
#: Leaves that are integers; the rest are floats.
INT_LEAVES = ("epochs", "cost_estimator", "relative_V", "sparse_training")
