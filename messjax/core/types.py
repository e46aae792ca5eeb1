"""Hyperparameters, state and per-request records of the MESS+ engine.

Everything a sweep varies (alpha, V, c, learning rate, ...) is a leaf of :class:`Hyperparams`,
so ``jax.vmap`` runs many settings in one computation (gymnax style). Shapes and model
architecture are static and live in :class:`EngineConfig`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from messjax.core.names import (
    COST_ESTIMATORS,
    HEADS,
    HPARAM_NAMES,
    INT_LEAVES,
    SPARSE_TRAINING,
)
from messjax.errors import ConfigError


def float_dtype():
    """float32, or float64 under ``JAX_ENABLE_X64=1`` (used by the parity tests)."""
    return jnp.result_type(float)


@struct.dataclass
class Hyperparams:
    """Per-episode settings; every field is a (vmappable) array leaf.

    Attributes:
      alpha: SLA target: the long-run share of satisfied requests must be >= alpha.
      V: cost/satisfaction trade-off of the drift-plus-penalty rule (unit: 1 / cost unit).
      c: exploration constant, p_t = min(1, c / t^(1/4)).
      learning_rate: SGD learning rate of the satisfaction predictor.
      momentum: SGD momentum of the predictor (the authors': 0.9, or 0.95 on BoolQ, SciQ and
        SocialIQA; a leaf so that tasks with different presets share one jitted call).
      epochs: gradient steps on each exploration's example.
      feedback_rate: probability f that a request yields satisfaction feedback.
      cost_estimator: index into :data:`COST_ESTIMATORS`.
      inference_cost: router compute charged per request (cost units), 0 = not modelled.
      training_cost: router compute charged per predictor gradient step (cost units).
      relative_V: 0 = V multiplies E_hat in the cost's own unit (the paper: V = 1e-4 is tuned
        to joules); 1 = V multiplies E_hat / max_m E_hat, the cost estimates relative to the
        dearest model's, so one V means the same trade-off on any cost unit or zoo
        (multiplying every cost by a constant leaves every decision unchanged).
      sparse_training: index into :data:`SPARSE_TRAINING`: whether an exploration without
        feedback trains the predictor.
    """

    alpha: jax.Array
    V: jax.Array
    c: jax.Array
    learning_rate: jax.Array
    epochs: jax.Array
    feedback_rate: jax.Array
    cost_estimator: jax.Array
    inference_cost: jax.Array
    training_cost: jax.Array
    relative_V: jax.Array
    momentum: jax.Array
    sparse_training: jax.Array


if HPARAM_NAMES != tuple(f.name for f in dataclasses.fields(Hyperparams)):  # one list of names
    raise ImportError("messjax.core.names.HPARAM_NAMES must list Hyperparams' fields in order")
#: Leaves given by name (a value of the tuple) or by index.
CHOICE_LEAVES = {"cost_estimator": COST_ESTIMATORS, "sparse_training": SPARSE_TRAINING}


#: The valid values of each leaf: (test on a float array, what the error says).
HPARAM_RULES = {
    "alpha": (lambda a: (a > 0) & (a < 1), "must be in (0, 1)"),
    "V": (lambda a: a > 0, "must be > 0"),
    "c": (lambda a: a > 0, "must be > 0"),
    "learning_rate": (lambda a: a >= 0, "must be >= 0"),
    "epochs": (lambda a: (a >= 0) & (a == np.round(a)), "must be an integer >= 0"),
    "feedback_rate": (lambda a: (a > 0) & (a <= 1), "must be in (0, 1]"),
    "cost_estimator": (
        lambda a: (a >= 0) & (a < len(COST_ESTIMATORS)),
        f"must index {COST_ESTIMATORS}",
    ),
    "inference_cost": (lambda a: a >= 0, "must be >= 0"),
    "training_cost": (lambda a: a >= 0, "must be >= 0"),
    "relative_V": (lambda a: (a == 0) | (a == 1), "must be 0 or 1 (or a bool)"),
    "momentum": (lambda a: (a >= 0) & (a < 1), "must be in [0, 1)"),
    "sparse_training": (
        lambda a: (a >= 0) & (a < len(SPARSE_TRAINING)),
        f"must index {SPARSE_TRAINING}",
    ),
}


def check_hparams(**values: Any) -> None:
    """Raise :class:`ConfigError` naming the first leaf of ``values`` (leaf name -> scalar,
    list or array; choice leaves as indices) that is not a finite number within
    :data:`HPARAM_RULES`."""
    for key, v in values.items():
        ok, msg = HPARAM_RULES[key]
        a = np.asarray(v)
        if not np.issubdtype(a.dtype, np.number) and a.dtype != bool:
            raise ConfigError(key, f"must be a number, got {v!r}")
        bad = ~np.isfinite(a.astype(float)) | ~ok(a.astype(float))
        if np.any(bad):
            raise ConfigError(key, f"{msg}, got {a[bad].ravel()[0].item()!r}")


def make_hparams(
    alpha: Any = 0.7,
    V: Any = 1e-4,
    c: Any = 0.1,
    learning_rate: Any = 0.05,
    epochs: Any = 1,
    feedback_rate: Any = 1.0,
    cost_estimator: Any = "last_explore",
    inference_cost: Any = 0.0,
    training_cost: Any = 0.0,
    relative_V: Any = 0,
    momentum: Any = 0.9,
    sparse_training: Any = "feedback_only",
    *,
    validate: bool = True,
) -> Hyperparams:
    """Build :class:`Hyperparams` from Python/NumPy values (scalars or equal-shaped arrays).

    ``cost_estimator`` and ``sparse_training`` may be names (:data:`COST_ESTIMATORS`,
    :data:`SPARSE_TRAINING`) or indices. With ``validate`` (default) out-of-range values raise
    :class:`ConfigError` naming the key: alpha in (0, 1), V > 0, c > 0, learning_rate >= 0,
    epochs >= 0, feedback_rate in (0, 1], costs >= 0, relative_V in {0, 1} (or a bool),
    momentum in [0, 1) (:data:`HPARAM_RULES`).
    """

    def index_of(key, value):
        choices = CHOICE_LEAVES[key]
        if isinstance(value, str) or (
            isinstance(value, (list, tuple)) and value and isinstance(value[0], str)
        ):
            names = [value] if isinstance(value, str) else list(value)
            for n in names:
                if n not in choices:
                    raise ConfigError(key, f"unknown value {n!r}; choose from {', '.join(choices)}")
            idx = [choices.index(n) for n in names]
            return idx[0] if isinstance(value, str) else idx
        return value

    cost_estimator = index_of("cost_estimator", cost_estimator)
    sparse_training = index_of("sparse_training", sparse_training)
    values = dict(
        alpha=alpha,
        V=V,
        c=c,
        learning_rate=learning_rate,
        epochs=epochs,
        feedback_rate=feedback_rate,
        cost_estimator=cost_estimator,
        inference_cost=inference_cost,
        training_cost=training_cost,
        relative_V=relative_V,
        momentum=momentum,
        sparse_training=sparse_training,
    )
    arrays = {k: np.asarray(v) for k, v in values.items()}
    if validate:
        check_hparams(**values)
    fdt = float_dtype()
    return Hyperparams(
        **{
            k: jnp.asarray(a, dtype=jnp.int32 if k in INT_LEAVES else fdt)
            for k, a in arrays.items()
        }
    )


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """Static settings: shapes and the predictor's architecture (not vmappable).

    Attributes:
      num_models: M.
      feature_dim: d, width of the request embeddings.
      head: "mlp" (the paper's Linear-LayerNorm-ReLU-Dropout-Linear) or "linear".
      hidden_dim: width of the MLP head's hidden layer. Default: feature_dim as in the paper
        (Linear(d, d)) for dense encoder embeddings (d <= 1024); 256 for wider, sparse inputs
        such as the 4096 hashed n-grams, where a d x d layer would cost 16M parameters.
      dropout: dropout rate of the MLP head's hidden layer during training.
      input_dropout: dropout rate on the input embedding of the MLP head during training (the
        authors' head: 0.1; 0 turns it off).
      n_dup: copies of the example in each online gradient step, each with its own dropout
        masks, loss averaged (the authors' update; ``None``: :func:`messjax.paper.paper_n_dup`,
        14 for 3 models; 1 turns it off). Without any dropout the copies are identical and
        one is computed.
      weight_decay, clip_norm: the Optax chain of MESSPLUS.md section 4 (the momentum is a
        :class:`Hyperparams` leaf).
      replay: capacity of an exploration replay buffer (0: the paper, each exploration trains
        on its own example only). With replay > 0 every gradient step uses the new example
        plus ``replay_batch - 1`` examples drawn uniformly from the last ``replay``
        explorations — a messjax extension (not in the paper) against the predictor tracking
        only its last few examples.
      replay_batch: examples per gradient step when replay > 0.
    """

    num_models: int
    feature_dim: int
    head: str = "mlp"
    hidden_dim: int | None = None
    dropout: float = 0.1
    input_dropout: float = 0.1
    n_dup: int | None = None
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    replay: int = 0
    replay_batch: int = 16

    def __post_init__(self):
        if self.head not in HEADS:
            raise ConfigError("head", f"unknown head {self.head!r}; choose from {HEADS}")
        if self.num_models < 1:
            raise ConfigError("num_models", "must be >= 1")
        if self.feature_dim < 1:
            raise ConfigError("feature_dim", "must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError("dropout", f"must be in [0, 1), got {self.dropout}")
        if not 0 <= self.input_dropout < 1:
            raise ConfigError("input_dropout", f"must be in [0, 1), got {self.input_dropout}")
        if self.n_dup is not None and self.n_dup < 1:
            raise ConfigError("n_dup", f"must be >= 1, got {self.n_dup}")
        if self.replay < 0:
            raise ConfigError("replay", f"must be >= 0, got {self.replay}")
        if self.replay_batch < 1:
            raise ConfigError("replay_batch", f"must be >= 1, got {self.replay_batch}")

    @property
    def has_dropout(self) -> bool:
        """Whether training draws dropout masks (MLP head with a non-zero rate)."""
        return self.head == "mlp" and (self.dropout > 0 or self.input_dropout > 0)

    @property
    def copies(self) -> int:
        """Copies per online gradient step: ``n_dup`` (paper default), 1 without dropout
        (identical copies average to the one-copy gradient)."""
        if not self.has_dropout:
            return 1
        if self.n_dup is not None:
            return self.n_dup
        from messjax.paper import paper_n_dup

        return paper_n_dup(self.num_models)

    @property
    def hidden(self) -> int:
        if self.hidden_dim:
            return self.hidden_dim
        return self.feature_dim if self.feature_dim <= 1024 else 256


@struct.dataclass
class LearnerState:
    """The exploration clock and the satisfaction predictor.

    Attributes:
      params, opt_state: predictor parameters and Optax state.
      t: number of requests observed. In an episode the next request is number t + 1; a live
        router with requests in flight numbers requests when it routes them (its own counter)
        and passes that number to the step.
      key: the episode's PRNG key; the randomness of request t is ``fold_in(key, t)``, so
        cells sharing a seed share their exploration and feedback coins and dropout masks
        (common random numbers) whatever their alpha or V.
    """

    params: Any
    opt_state: Any
    t: jax.Array
    key: jax.Array
    replay: ReplayBuffer | None = None


@struct.dataclass
class ReplayBuffer:
    """The last ``capacity`` explorations with feedback (ring buffer; ``EngineConfig.replay``).

    Exploration number e (0-based) is stored at position ``e % capacity``.
    """

    x: jax.Array  # [capacity, d]
    labels: jax.Array  # [capacity, M]
    count: jax.Array  # explorations stored so far (may exceed capacity)


@struct.dataclass
class QueueState:
    """The drift-plus-penalty side: virtual queues and the cost estimate.

    Attributes:
      virtual_queue: Q used by the decisions (updated only on requests with feedback).
      ideal_queue: Q as if every request gave feedback (monitoring; equals virtual_queue
        when feedback_rate = 1).
      cost_estimate: E_hat, [M], kept by the ``last_explore`` / ``running_mean`` rules.
      cost_sum, cost_count: running sums of observed costs per model, [M].
    """

    virtual_queue: jax.Array
    ideal_queue: jax.Array
    cost_estimate: jax.Array
    cost_sum: jax.Array
    cost_count: jax.Array


@struct.dataclass
class RouterState:
    """Everything the router carries from one request to the next."""

    learner: LearnerState
    queue: QueueState


@struct.dataclass
class Request:
    """One request of a stream: its embedding and, per model, satisfaction and cost."""

    x: jax.Array  # [d]
    labels: jax.Array  # [M], s[:, t]
    costs: jax.Array  # [M], E[:, t]


@struct.dataclass
class Decision:
    """The router's choice for one request (before its outcome is known)."""

    explore: jax.Array  # bool: query every model, serve the largest
    model: jax.Array  # int32: the model whose answer is served
    s_hat: jax.Array  # [M] predicted satisfaction probabilities used by the argmin
    feedback: jax.Array  # bool: this request yields satisfaction feedback
    cost_estimate: jax.Array  # [M] E_hat used by the argmin


@struct.dataclass
class StepOutput:
    """Per-request outcome (what a trace records)."""

    explore: jax.Array
    feedback: jax.Array
    model: jax.Array
    satisfaction: jax.Array  # s_t of the served answer
    cost: jax.Array  # cost charged for the request (all models on exploration)
    virtual_queue: jax.Array  # after the update
    ideal_queue: jax.Array


#: the leaves that may be infinite (an unbounded price); every other one must be finite
_MAY_BE_INF = ("price_cap", "infeasible_cap")
#: the leaves that must be > 0 (the rest >= 0)
_POSITIVE = ("prior", "price_cap", "infeasible_cap")


def check_policy_params(values: dict[str, Any]) -> None:
    """Refuse a ``messjax`` policy leaf (:class:`messjax.core.policy.PolicyParams`) outside
    its range, with a :class:`~messjax.errors.ConfigError` naming it: every leaf a number >= 0,
    ``prior``, ``price_cap`` and ``infeasible_cap`` > 0, only the two caps may be ``inf``.
    Arrays (grids) are checked element by element; traced values are left to the caller."""
    for key, value in values.items():
        if isinstance(value, jax.core.Tracer):
            continue
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(key, f"must be a number, got {value!r}") from None
        finite = np.isfinite(arr) | (np.isposinf(arr) if key in _MAY_BE_INF else False)
        ok = finite & (arr > 0 if key in _POSITIVE else arr >= 0)
        if not np.all(ok):
            bad = arr[~ok].ravel()[0]
            rule = "> 0" if key in _POSITIVE else ">= 0"
            rule += " (inf allowed)" if key in _MAY_BE_INF else ", finite"
            raise ConfigError(key, f"must be a number {rule}, got {float(bad)!r}")


def seed_array(seeds) -> np.ndarray:
    """Episode seeds as uint32 (what ``jax.random.PRNGKey`` takes in every precision mode),
    refusing any outside ``[0, 2**32)``: a larger seed would silently share its coins with
    ``seed mod 2**32`` (and give other ones under x64)."""
    arr = np.asarray(seeds)
    flat = arr.ravel()
    bad = flat[:1] if arr.dtype.kind not in "iu" else flat[(flat < 0) | (flat >= 2**32)]
    if bad.size:
        raise ConfigError("seeds", f"seeds must be integers in [0, 2**32), got {bad[0].item()!r}")
    return arr.astype(np.uint32)
