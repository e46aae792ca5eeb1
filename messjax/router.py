"""A live MESS+ router for real traffic, on the same step code as the simulator.

    router = Router.create(models=["small", "medium", "large"], feature_dim=4096,
                           featurizer="hash", alpha=0.7, V=1e-4, c=0.1, seed=0)
    d = router.route("What is the capital of France?")
    if d.explore:   # query every model, serve d.model (the largest)
        router.observe(satisfied=[0, 1, 1], costs=[60.0, 270.0, 1500.0])
    else:           # query d.model only
        router.observe(satisfied=1, costs=270.0)

``route`` runs :func:`messjax.core.step.decide`; ``observe`` runs
:func:`messjax.core.step.observe`; together they are :func:`messjax.core.step.step`, so a
router fed a stream decides exactly like an episode replaying it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from messjax.core.step import decide, init_state, observe
from messjax.core.types import (
    COST_ESTIMATORS,
    Decision,
    EngineConfig,
    Hyperparams,
    Request,
    RouterState,
    float_dtype,
    make_hparams,
)
from messjax.errors import MessjaxError


def _numbers(value, name: str, expected: str) -> np.ndarray:
    """``value`` as a float64 array, or a one-line error for text, None and other objects."""
    if value is None or isinstance(value, str | bytes | dict):
        raise MessjaxError(f"{name} must be {expected}, got {type(value).__name__} {value!r:.60}")
    try:
        v = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise MessjaxError(f"{name} must be {expected}: {e}") from None
    if v.dtype.kind not in "biuf":
        raise MessjaxError(f"{name} must be {expected}, got {v.dtype} values {value!r:.60}")
    return v.astype(np.float64)


def _require_finite(v: np.ndarray, name: str) -> None:
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        i = int(bad[0])
        raise MessjaxError(
            f"{name} has {bad.size} NaN or infinite value(s) (first at index {i}: "
            f"{v.reshape(-1)[i]}); refused, the router's state is unchanged"
        )


@dataclasses.dataclass(frozen=True)
class RouteDecision:
    """What to do with a request: serve ``model``; if ``explore``, query every model."""

    model: str
    model_index: int
    explore: bool
    feedback: bool
    s_hat: np.ndarray


class Router:
    """Stateful wrapper over the pure step; one ``route`` then one ``observe`` per request."""

    def __init__(
        self,
        models: Sequence[str],
        config: EngineConfig,
        hparams: Hyperparams,
        seed: int = 0,
        featurizer: str | None = None,
        state: RouterState | None = None,
    ):
        self.models = tuple(models)
        if len(self.models) != config.num_models:
            raise MessjaxError(
                f"{len(self.models)} model names for a {config.num_models}-model config"
            )
        self.config, self.hparams, self.seed, self.featurizer = config, hparams, seed, featurizer
        self.state = state if state is not None else init_state(jax.random.PRNGKey(seed), config)
        self._pending: tuple[Decision, jax.Array] | None = None
        self._decide = jax.jit(decide, static_argnames="config")
        self._observe = jax.jit(observe, static_argnames="config")

    @classmethod
    def create(
        cls,
        models: Sequence[str],
        feature_dim: int,
        *,
        head: str = "mlp",
        featurizer: str | None = None,
        seed: int = 0,
        **hparams: Any,
    ) -> Router:
        """A fresh router; ``hparams`` as in :func:`messjax.core.types.make_hparams`."""
        config = EngineConfig(num_models=len(models), feature_dim=feature_dim, head=head)
        return cls(models, config, make_hparams(**hparams), seed=seed, featurizer=featurizer)

    # ---------------------------------------------------------------------------- traffic
    def _embed(self, request) -> jax.Array:
        """The embedding of a request (text or vector), refused unless finite and of the
        router's dimension: a NaN in ``x`` would otherwise reach the predictor on the next
        exploration and make every later ``s_hat`` NaN."""
        if isinstance(request, str):
            if self.featurizer is None:
                raise MessjaxError(
                    "this router has no featurizer: pass an embedding, or "
                    "create it with featurizer='hash' or 'minilm'"
                )
            from messjax.features import featurize

            request = featurize([request], self.featurizer, cache_dir=False, progress=False)[0]
        v = _numbers(request, "the request", "a text (str) or an embedding (a vector of floats)")
        if v.shape != (self.config.feature_dim,):
            raise MessjaxError(
                f"embedding has shape {v.shape}, expected ({self.config.feature_dim},)"
            )
        _require_finite(v, "embedding")
        return jnp.asarray(v, float_dtype())

    def route(self, request, costs: Sequence[float] | None = None) -> RouteDecision:
        """Decide for one request (text or embedding). ``costs`` (per model) are needed only
        by the ``oracle`` cost estimator."""
        if self._pending is not None:
            raise MessjaxError("route() called twice without observe() for the first request")
        x = self._embed(request)
        if costs is None and int(self.hparams.cost_estimator) == COST_ESTIMATORS.index("oracle"):
            raise MessjaxError("the oracle cost estimator needs this request's costs in route()")
        c = None
        if costs is not None:
            cv = _numbers(costs, "costs", "one cost per model")
            if cv.shape != (self.config.num_models,):
                raise MessjaxError(
                    f"route() costs need one value per model ({self.config.num_models}), "
                    f"got shape {cv.shape}"
                )
            _require_finite(cv, "costs")
            if np.any(cv < 0):
                raise MessjaxError(f"costs must be >= 0, got {cv.tolist()}")
            c = jnp.asarray(cv, float_dtype())
        d = self._decide(self.state, x, self.hparams, self.config, c)
        self._pending = (d, x)
        m = int(d.model)
        return RouteDecision(
            model=self.models[m],
            model_index=m,
            explore=bool(d.explore),
            feedback=bool(d.feedback),
            s_hat=np.asarray(d.s_hat),
        )

    def observe(self, satisfied, costs) -> dict[str, float]:
        """Outcome of the last routed request.

        On an exploration ``satisfied`` and ``costs`` have one entry per model; otherwise a
        scalar each (the served model's), or full vectors if known.
        """
        if self._pending is None:
            raise MessjaxError("observe() called without a routed request")
        d, x = self._pending
        m = int(d.model)
        # Everything is checked before the state is touched; a refused call leaves the
        # request pending, so observe() can be called again with good values.
        labels = self._per_model(satisfied, "satisfied", bool(d.explore), m)
        cost_v = self._per_model(costs, "costs", bool(d.explore), m)
        _require_finite(labels, "satisfied")
        _require_finite(cost_v, "costs")
        if np.any((labels < 0) | (labels > 1)):
            raise MessjaxError(f"satisfied must be in [0, 1], got {labels.tolist()}")
        if np.any(cost_v < 0):
            raise MessjaxError(f"costs must be >= 0, got {cost_v.tolist()}")
        req = Request(
            x=x, labels=jnp.asarray(labels, float_dtype()), costs=jnp.asarray(cost_v, float_dtype())
        )
        self.state, out = self._observe(self.state, d, req, self.hparams, self.config)
        self._pending = None
        return {
            "satisfaction": float(out.satisfaction),
            "cost": float(out.cost),
            "virtual_queue": float(out.virtual_queue),
        }

    def _per_model(self, value, name: str, explore: bool, m: int) -> np.ndarray:
        M = self.config.num_models
        v = np.atleast_1d(_numbers(value, name, f"a number or {M} numbers"))
        if v.ndim != 1:
            raise MessjaxError(f"{name} needs 1 or {M} values, got shape {v.shape}")
        if v.shape == (M,):
            return v
        if explore:
            raise MessjaxError(
                f"this request was an exploration: {name} needs one value per "
                f"model ({M}), got {v.shape[0]}"
            )
        if v.shape != (1,):
            raise MessjaxError(f"{name} needs 1 or {M} values, got {v.shape[0]}")
        full = np.zeros(M)
        full[m] = v[0]
        return full

    @property
    def virtual_queue(self) -> float:
        return float(self.state.queue.virtual_queue)

    @property
    def num_requests(self) -> int:
        return int(self.state.learner.t)

    # ---------------------------------------------------------------------- checkpoints
    def save(self, path) -> Any:
        """Save the whole router (state, hyperparameters, models, seed, config) with Orbax
        to the folder ``path``; see :func:`messjax.checkpoint.save_router`."""
        from messjax.checkpoint import save_router

        return save_router(self, path)

    @classmethod
    def restore(cls, path) -> Router:
        """The router saved at ``path``; it continues exactly where the saved one stopped."""
        from messjax.checkpoint import restore_router

        return restore_router(path, cls)
