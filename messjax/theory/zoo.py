"""The typed i.i.d. zoo of the theory checks: request types with known success and cost.

:class:`TypedZoo` holds everything the LP and the bounds need (type mix ``pi``, success
``P[k, m]``, cost ``C[k, m]``, one embedding per type); :func:`typed_zoo` builds the default
zoo of ``messjax theory``; :func:`zoo_policy` is its optimal static policy
(:func:`messjax.lp.optimal_static_policy`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from messjax.data.table import RoutingTable
from messjax.errors import ConfigError
from messjax.lp import StaticPolicy, optimal_static_policy

__all__ = ["TypedStream", "TypedZoo", "typed_zoo", "zoo_policy"]


@dataclasses.dataclass(frozen=True)
class TypedStream:
    """One sampled request stream: ``types[T]``, ``x[T, d]``, ``labels[T, M]``, ``costs[T, M]``."""

    types: np.ndarray
    x: np.ndarray
    labels: np.ndarray
    costs: np.ndarray

    def __len__(self) -> int:
        return len(self.types)


@dataclasses.dataclass(frozen=True)
class TypedZoo:
    """An i.i.d. zoo with known request types (everything the LP and the bounds need).

    Attributes:
      type_probs: ``[K]`` probability of each request type.
      success: ``[K, M]`` probability that model m satisfies a request of type k.
      cost: ``[K, M]`` cost of model m on type k (deterministic, cheapest model first).
      features: ``[K, d]`` embedding of each type (the predictor's input).
      feature_noise: standard deviation of Gaussian noise added to every embedding.
      models: model names, cheapest first.
    """

    type_probs: np.ndarray
    success: np.ndarray
    cost: np.ndarray
    features: np.ndarray
    feature_noise: float = 0.0
    models: tuple[str, ...] = ("small", "medium", "large")

    def __post_init__(self):
        pi = np.asarray(self.type_probs, float)
        P = np.asarray(self.success, float)
        C = np.asarray(self.cost, float)
        F = np.asarray(self.features, float)
        if pi.ndim != 1 or P.shape[0] != pi.shape[0] or C.shape != P.shape:
            raise ConfigError(
                "zoo",
                f"shapes type_probs {pi.shape}, success {P.shape}, cost {C.shape} do not agree",
            )
        if F.ndim != 2 or F.shape[0] != pi.shape[0]:
            raise ConfigError("features", f"must be [K, d], got {F.shape}")
        if np.any(pi < 0) or not np.isclose(pi.sum(), 1.0):
            raise ConfigError("type_probs", "must be >= 0 and sum to 1")
        if np.any((P < 0) | (P > 1)):
            raise ConfigError("success", "must be probabilities in [0, 1]")
        if np.any(C < 0):
            raise ConfigError("cost", "must be >= 0")
        if len(self.models) != P.shape[1]:
            raise ConfigError("models", f"{len(self.models)} names for {P.shape[1]} models")
        for name, a in (("type_probs", pi), ("success", P), ("cost", C), ("features", F)):
            object.__setattr__(self, name, a)

    @property
    def num_types(self) -> int:
        return len(self.type_probs)

    @property
    def num_models(self) -> int:
        return self.success.shape[1]

    @property
    def feature_dim(self) -> int:
        return self.features.shape[1]

    @property
    def best_satisfaction(self) -> float:
        """s_max = sum_k pi_k max_m P[k, m]: no policy does better in expectation."""
        return float(self.type_probs @ self.success.max(axis=1))

    @property
    def largest_satisfaction(self) -> float:
        """s_L: mean satisfaction of the largest model (served on explorations)."""
        return float(self.type_probs @ self.success[:, -1])

    @property
    def exploration_cost(self) -> float:
        """E_sum = sum_k pi_k sum_m C[k, m]: expected cost of one exploration."""
        return float(self.type_probs @ self.cost.sum(axis=1))

    @property
    def cost_spread(self) -> float:
        """dE = sum_k pi_k (C[k, best_k] - min_m C[k, m]) (<= E_max - E_min)."""
        best = self.success.argmax(axis=1)
        k = np.arange(self.num_types)
        return float(self.type_probs @ (self.cost[k, best] - self.cost.min(axis=1)))

    def with_type_probs(self, type_probs) -> TypedZoo:
        """The same zoo under another type distribution (e.g. one phase of a shift)."""
        return dataclasses.replace(self, type_probs=np.asarray(type_probs, float))

    def sample(self, num_requests: int, seed: int, type_probs=None) -> TypedStream:
        """i.i.d. requests: type ~ pi, labels ~ Bernoulli(P[type]), costs C[type].

        ``numpy.random.default_rng(seed)`` is the only source of randomness.
        """
        rng = np.random.default_rng(seed)
        pi = self.type_probs if type_probs is None else np.asarray(type_probs, float)
        types = rng.choice(self.num_types, size=num_requests, p=pi)
        labels = rng.random((num_requests, self.num_models)) < self.success[types]
        x = self.features[types]
        if self.feature_noise > 0:
            x = x + self.feature_noise * rng.standard_normal(x.shape)
        return TypedStream(
            types=types,
            x=x.astype(np.float32),
            labels=labels.astype(np.float32),
            costs=self.cost[types].astype(np.float32),
        )

    def sample_shift(self, num_requests: int, seed: int, before, after) -> TypedStream:
        """A non-stationary stream: types ~ ``before`` for the first half, ``after`` after."""
        half = num_requests // 2
        a = self.sample(half, seed, before)
        b = self.sample(num_requests - half, seed + 1_000_003, after)
        return TypedStream(
            *(
                np.concatenate([u, v])
                for u, v in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True)
            )
        )

    def table(self, stream: TypedStream, name: str = "typed") -> RoutingTable:
        """The stream as a :class:`RoutingTable` (texts ``"type <k>"``, task ``"typed"``)."""
        return RoutingTable(
            texts=np.array([f"type {k}" for k in stream.types], dtype=object),
            labels=stream.labels,
            costs=stream.costs,
            models=self.models,
            tasks=np.full(len(stream), "typed", dtype=object),
            ids=np.arange(len(stream)),
            cost_unit="$",
            name=name,
            source="<messjax.theory.TypedZoo>",
        )


def typed_zoo(
    num_types: int = 12,
    *,
    skills: Sequence[float] = (-0.5, 0.8, 2.8),
    discrimination: float = 2.0,
    base_cost: Sequence[float] = (0.05, 0.2, 1.0),
    cost_growth: float = 0.5,
    features: str = "difficulty",
    feature_noise: float = 0.0,
) -> TypedZoo:
    """The default i.i.d. zoo of the checks: K equiprobable types of increasing difficulty.

    Type k has difficulty ``z_k`` (evenly spaced in [-1.5, 1.5]);
    ``P[k, m] = sigmoid(skills[m] - discrimination * z_k)`` (the largest model is the best on
    every type) and ``C[k, m] = base_cost[m] * (1 + cost_growth * (z_k + 1.5) / 3)`` (harder
    requests cost more). ``features="difficulty"`` embeds a type as ``(z_k, 1)``, for which a
    linear head is exactly the true model (logistic in ``z``), so the predictor's best
    attainable loss is the Bernoulli entropy (F_min = 0 in Theorem 2's sense);
    ``"onehot"`` embeds it as the unit vector e_k (one logistic regression per type).
    """
    if num_types < 1:
        raise ConfigError("num_types", "must be >= 1")
    if features not in ("difficulty", "onehot"):
        raise ConfigError("features", f"unknown features {features!r}; 'difficulty' or 'onehot'")
    z = np.linspace(-1.5, 1.5, num_types) if num_types > 1 else np.zeros(1)
    skills = np.asarray(skills, float)
    P = 1.0 / (1.0 + np.exp(-(skills[None, :] - discrimination * z[:, None])))
    C = np.asarray(base_cost, float)[None, :] * (1.0 + cost_growth * (z[:, None] + 1.5) / 3.0)
    F = np.stack([z, np.ones_like(z)], axis=1) if features == "difficulty" else np.eye(num_types)
    names = (
        ("small", "medium", "large")
        if len(skills) == 3
        else tuple(f"m{i}" for i in range(len(skills)))
    )
    return TypedZoo(
        type_probs=np.full(num_types, 1.0 / num_types),
        success=P,
        cost=C,
        features=F,
        feature_noise=feature_noise,
        models=names,
    )


def zoo_policy(zoo: TypedZoo, alpha: float) -> StaticPolicy:
    """:func:`optimal_static_policy` of a :class:`TypedZoo`."""
    return optimal_static_policy(zoo.type_probs, zoo.success, zoo.cost, alpha)
